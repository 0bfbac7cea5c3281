"""One training loop for every objective, laid out in nanoGPT's sections.

setup → (resume) → for each epoch: batches → lr schedule → forward/backward → clip → step →
evaluate → keep best / stop early → checkpoint. An objective
(:mod:`lmrec.train.objectives`) lists an epoch's examples, turns a batch of them into model
inputs and computes the loss; the loop does not know which model or objective it runs.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from lmrec.errors import ConfigError, ModelFileError
from lmrec.train.distributed import all_reduce_sum, broadcast, rank_and_world, wrap
from lmrec.train.objectives import Objective


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (AdamW with linear warm-up then cosine decay)."""

    epochs: int = 200
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 100
    clip_norm: float = 1.0
    patience: int = 10  # epochs without a better validation score before stopping
    eval_every: int = 1
    seed: int = 0
    threads: int = 0  # 0 = leave torch's default

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")


@dataclass
class TrainHistory:
    """What happened: per-epoch loss and validation score, and where the best model was."""

    losses: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    best_epoch: int = -1
    best_score: float = -math.inf
    seconds: float = 0.0
    examples_per_second: float = 0.0
    stopped_early: bool = False
    #: One row per epoch: ``epoch`` (1-based), ``loss``, ``lr`` (at the epoch's end),
    #: ``seconds`` (since training started) and ``valid_ndcg@10`` when validated.
    #: :mod:`lmrec.train.curves` writes these to a run directory.
    epochs: list[dict[str, float]] = field(default_factory=list)


#: The names of :class:`TrainConfig`'s fields (models take them as parameters).
TRAIN_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(TrainConfig))


def lr_at(step: int, total: int, config: TrainConfig) -> float:
    """Linear warm-up for ``warmup_steps``, then cosine decay to 10% of ``lr``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, total - config.warmup_steps))
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def train(
    net: torch.nn.Module,
    objective: Objective,
    config: TrainConfig,
    validate: Callable[[], float] | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    parameters: list[torch.nn.Parameter] | None = None,
    score_name: str = "valid_ndcg@10",
) -> TrainHistory:
    """Train ``net`` in place; on return it holds the weights of the best validation epoch.

    ``objective.batches(rng, batch_size)`` gives one epoch's list of example-index arrays,
    ``objective.batch(idx, rng)`` the model inputs and ``objective.loss(model, inputs)`` the
    mean loss and its number of targets. Inside a ``torchrun`` process group every global
    batch is shared out across processes (see :mod:`lmrec.train.distributed`).
    ``validate()`` returns a score to maximise (validation NDCG@10; the curves call it
    ``score_name``). ``parameters`` restricts
    what is trained (frozen backbone, LoRA); by default every parameter with ``requires_grad``.
    """
    # ---- setup
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rank, world = rank_and_world()
    model = wrap(net)  # DDP in a process group, else the net itself
    params = (
        parameters if parameters is not None else [p for p in net.parameters() if p.requires_grad]
    )
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.lr,
    )
    steps_per_epoch = max(1, len(objective.batches(np.random.default_rng(0), config.batch_size)))
    total_steps = steps_per_epoch * config.epochs
    history = TrainHistory()
    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    start_epoch, step = 0, 0
    ckpt = Path(checkpoint_dir) if checkpoint_dir else None
    main = rank == 0
    progress = progress and main

    # ---- resume
    if resume and ckpt is not None and (ckpt / "trainer.json").exists():
        start_epoch, step, history, best_state = _load_checkpoint(ckpt, net, optimizer)

    # ---- epochs
    start = time.perf_counter()
    seen = 0
    bad_epochs = 0 if history.best_epoch < 0 else (start_epoch - 1 - history.best_epoch)
    for epoch in range(start_epoch, config.epochs):
        net.train()
        # Per-epoch generators: batch order is shared by every process (and identical after
        # a resume); masking randomness differs per process.
        order_rng = np.random.default_rng([config.seed, epoch])
        batch_rng = np.random.default_rng([config.seed, epoch, rank])
        loss_sum, positions = 0.0, 0.0
        epoch_batches = objective.batches(order_rng, config.batch_size)
        bar = tqdm(epoch_batches, desc=f"epoch {epoch + 1}", disable=not progress, leave=False)
        for idx in bar:
            if len(idx) < world:
                continue  # too small to give every process a share
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, total_steps, config)
            inputs = objective.batch(idx[rank::world], batch_rng)
            loss, n_local = objective.loss(model, inputs)
            n_global = all_reduce_sum(n_local)
            if n_global == 0:
                continue
            optimizer.zero_grad(set_to_none=True)
            (loss * (n_local * world / n_global)).backward()
            if config.clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(params, config.clip_norm)
            optimizer.step()
            step += 1
            seen += len(idx)
            loss_sum += all_reduce_sum(loss.item() * n_local)
            positions += n_global
            bar.set_postfix(loss=f"{loss_sum / positions:.4f}")
        history.losses.append(loss_sum / max(1.0, positions))
        row = {
            "epoch": epoch + 1,
            "loss": history.losses[-1],
            "lr": lr_at(max(0, step - 1), total_steps, config),
        }

        # ---- evaluate (on the first process), keep best, stop early
        if validate is not None and (
            (epoch + 1) % config.eval_every == 0 or epoch + 1 == config.epochs
        ):
            net.eval()
            with torch.no_grad():
                score = broadcast(float(validate()) if main else 0.0)
            history.scores.append(score)
            row[score_name] = score
            if score > history.best_score:
                history.best_score, history.best_epoch = score, epoch
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                bad_epochs = 0
            else:
                bad_epochs += config.eval_every
            if progress:
                tqdm.write(
                    f"epoch {epoch + 1}: loss {history.losses[-1]:.4f}  valid {score:.4f}  "
                    f"best {history.best_score:.4f} (epoch {history.best_epoch + 1})"
                )
        else:
            history.best_epoch = epoch
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}

        row["seconds"] = time.perf_counter() - start
        history.epochs.append(row)

        # ---- checkpoint
        if ckpt is not None and main:
            _save_checkpoint(ckpt, net, optimizer, epoch + 1, step, history, best_state)
        if validate is not None and bad_epochs >= config.patience:
            history.stopped_early = True
            break

    history.seconds = time.perf_counter() - start
    history.examples_per_second = seen / max(history.seconds, 1e-9)
    net.load_state_dict(best_state)
    net.eval()
    return history


def _save_checkpoint(
    ckpt: Path,
    net,
    optimizer,
    epoch: int,
    step: int,
    history: TrainHistory,
    best_state: dict[str, torch.Tensor],
) -> None:
    """Enough to resume: current and best weights, optimizer moments, counters (no pickle)."""
    ckpt.mkdir(parents=True, exist_ok=True)
    tensors = {f"net.{k}": v.contiguous() for k, v in net.state_dict().items()}
    tensors.update({f"best.{k}": v.contiguous() for k, v in best_state.items()})
    opt = optimizer.state_dict()
    for pid, state in opt["state"].items():
        for name, value in state.items():
            if torch.is_tensor(value):
                tensors[f"opt.{pid}.{name}"] = value.contiguous()
    save_file(tensors, str(ckpt / "trainer.safetensors"))
    meta = {
        "epoch": epoch,
        "step": step,
        "history": asdict(history),
        "param_groups": opt["param_groups"],
    }
    (ckpt / "trainer.json").write_text(json.dumps(meta), encoding="utf-8")


def _load_checkpoint(ckpt: Path, net, optimizer):
    try:
        meta = json.loads((ckpt / "trainer.json").read_text(encoding="utf-8"))
        tensors = load_file(str(ckpt / "trainer.safetensors"))
    except Exception as exc:  # any unreadable checkpoint is the user's to fix, not a crash
        raise ModelFileError(f"{ckpt}: cannot resume from this checkpoint ({exc})") from None
    net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
    best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    history = TrainHistory(**meta["history"])
    return meta["epoch"], meta["step"], history, best
