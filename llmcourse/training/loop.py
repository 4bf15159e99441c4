"""The training loop of lesson 20: AdamW (or Muon, :mod:`llmcourse.training.optim`), warmup +
cosine, clipping, evaluation, checkpoints.

From a notebook (a live plot is any function that takes the record dicts the loop emits)::

    from llmcourse.training import Trainer
    result = Trainer("shakespeare-char", max_time=60, callbacks=[plot.update]).train()

From a terminal: ``python -m llmcourse train --preset shakespeare-char --out runs/shakespeare``
(see :mod:`llmcourse.training.cli`). A tiny run, start to finish:

>>> result = Trainer("tiny", max_iters=20, eval_interval=10, progress=False, log=None).train()
>>> result.step, [r["step"] for r in result.history if "val_loss" in r]
(20, [0, 10, 20])
>>> result.history[-1]["val_loss"] < result.history[0]["val_loss"]     # it learned something
True
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from .._checks import check_token_range
from ..config import GPTConfig
from ..data import BatchSampler, encode_corpus, load_corpus, train_val_split
from ..env import deterministic_on_cpu, get_device, seed_everything
from ..model import GPT
from ..tokenizers import CharTokenizer
from .checkpoint import FORMAT, check_writable, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .config import TrainConfig, learning_rate_at, progress
from .distributed import (DistInfo, all_reduce_max, all_reduce_mean, device_for, setup_distributed)
from .optim import Muon, OptimizerSet
from .presets import PRESETS, get_preset  # noqa: F401  (Trainer takes a preset's name)
from .speed import (autocast, compile_or_fallback, grad_scaler, keep_freed_memory,
                         mark_step_begin, maybe_compile, resolve_precision)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig,
                   dtype: torch.dtype = torch.float32) -> torch.optim.Optimizer | OptimizerSet:
    """Lesson 20: AdamW with weight decay on matrices (linear weights, embeddings) only; biases
    and norm gains are not decayed. Uses the fused implementation where PyTorch has one.

    With ``cfg.optimizer == "muon"``: an :class:`~llmcourse.training.optim.OptimizerSet` of
    :class:`~llmcourse.training.optim.Muon` for the 2-D weights inside the blocks (named ``blocks.*``) and
    the AdamW above for every other parameter (embeddings, tied LM head, biases, norm gains).
    ``dtype`` is the training precision (:func:`~llmcourse.training.speed.resolve_precision`): under
    bf16, Muon's Newton-Schulz iteration runs in bf16 too."""
    if cfg.optimizer == "muon":
        matrices = [p for name, p in model.named_parameters()
                    if p.requires_grad and p.dim() == 2 and name.startswith("blocks.")]
        taken = {id(p) for p in matrices}
        rest = [p for p in model.parameters() if p.requires_grad and id(p) not in taken]
        ns_dtype = torch.bfloat16 if dtype == torch.bfloat16 else torch.float32
        return OptimizerSet(muon=Muon(matrices, lr=cfg.learning_rate, weight_decay=cfg.weight_decay,
                                      ns_dtype=ns_dtype),
                            adamw=_adamw(rest, cfg))
    return _adamw([p for p in model.parameters() if p.requires_grad], cfg)


def _adamw(params: list, cfg: TrainConfig) -> torch.optim.AdamW:
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    kwargs = {"lr": cfg.learning_rate, "betas": (cfg.beta1, cfg.beta2)}
    if "fused" in inspect.signature(torch.optim.AdamW).parameters:
        try:
            return torch.optim.AdamW(groups, fused=True, **kwargs)
        except (RuntimeError, ValueError):  # older PyTorch: no fused AdamW on this device
            pass
    return torch.optim.AdamW(groups, **kwargs)


def last_value(history: list, key: str):
    """The latest value of ``key`` in a list of history records, or ``None`` if no record has it.

    >>> history = [{"step": 0, "val_loss": 4.2}, {"step": 5, "val_loss": 3.1}, {"step": 6, "loss": 3.0}]
    >>> last_value(history, "val_loss"), last_value(history, "lr")
    (3.1, None)
    """
    return next((r[key] for r in reversed(history) if key in r), None)


@dataclass
class TrainResult:
    """What :meth:`Trainer.train` returns: the trained model (eval mode), its tokenizer, the
    history of records, and where the checkpoint went (``None`` without ``out_dir``)."""

    model: GPT
    tokenizer: CharTokenizer
    history: list = field(default_factory=list)
    step: int = 0
    elapsed: float = 0.0
    checkpoint: str | None = None
    interrupted: bool = False

    def last(self, key: str):
        """The latest value of ``key`` in the history (e.g. ``"val_loss"``), or ``None``."""
        return last_value(self.history, key)


class Trainer:
    """Lesson 20: train a GPT on a text. ``config`` is a :class:`TrainConfig` or a preset name;
    keyword ``overrides`` change single fields (``Trainer("tiny", max_iters=50)``).

    ``callbacks`` are called with a record dict at every log step: ``step``, ``loss`` (this
    step's batch), ``lr``, ``tokens_per_s``, ``elapsed``; at evaluation steps also ``train_loss``
    and ``val_loss``. ``resume=True`` continues from ``out_dir``'s checkpoint.
    """

    def __init__(self, config: TrainConfig | str = "shakespeare-char", *, text: str | None = None,
                 tokenizer=None, out_dir=None, resume: bool = False,
                 callbacks: Sequence[Callable[[dict], object]] = (), progress: bool = True,
                 log: Callable[[str], object] | None = print, **overrides):
        cfg = get_preset(config, **overrides) if isinstance(config, str) else config.replace(**overrides)
        get_device(cfg.device)  # a device this machine lacks: a ValueError now, not a crash later
        if out_dir is not None:
            check_writable(out_dir)  # not after the first evaluation, at the first save
        ckpt = None
        if resume:
            if out_dir is None:
                raise ValueError("resume=True needs out_dir, the directory of the run to continue.")
            ckpt = load_checkpoint(out_dir)
            if ckpt.get("format") != FORMAT:
                raise ValueError(f"{out_dir} does not hold a training checkpoint (format {ckpt.get('format')!r}).")
            budget = {k: v for k, v in overrides.items() if k in ("max_iters", "max_time", "device")}
            cfg = TrainConfig.from_dict(ckpt["train_config"]).replace(**budget)
            tokenizer = CharTokenizer.from_dict(ckpt["tokenizer"])
        self.cfg, self.out_dir, self.callbacks = cfg, out_dir, list(callbacks)
        self.show_progress, self._log = progress, log
        self.dist: DistInfo = setup_distributed(get_device(cfg.device))
        self.device = device_for(self.dist, get_device(cfg.device))
        self.dtype = resolve_precision(cfg.precision, self.device)  # of the forward pass in training
        self.scaler = grad_scaler(self.device, self.dtype)  # fp16 only: scales the loss, unscales the gradients
        if text is None:
            text = load_corpus(cfg.corpus)
        self.tokenizer = tokenizer if tokenizer is not None else CharTokenizer.from_text(text)
        ids = encode_corpus(text, self.tokenizer)
        check_token_range(ids, self.tokenizer.vocab_size, "the encoded corpus")  # once: steps skip it
        train_ids, val_ids = train_val_split(ids, cfg.val_fraction)
        seed_everything(cfg.seed)
        self.model = GPT(cfg.model_config(self.tokenizer.vocab_size)).to(self.device)
        self.optimizer = make_optimizer(self.model, cfg, self.dtype)
        rank, world = self.dist.rank, self.dist.world_size
        self.sampler = BatchSampler(train_ids, cfg.batch_size, cfg.model.block_size, cfg.seed, self.device, rank, world)
        self.eval_batches = {}
        for i, (split, ids) in enumerate((("train", train_ids), ("val", val_ids))):
            s = BatchSampler(ids, cfg.batch_size, cfg.model.block_size, cfg.seed + 1 + i, self.device, rank, world)
            self.eval_batches[split] = [s.next_batch() for _ in range(cfg.eval_iters)]
        self.step, self.elapsed, self.history = 0, 0.0, []
        if ckpt is not None:
            self._restore(ckpt)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Everything needed to continue exactly: a dict of tensors and plain values only."""
        return {"format": FORMAT, "version": 1, "step": self.step, "elapsed": self.elapsed,
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "model_config": self.model.config.to_dict(), "train_config": self.cfg.to_dict(),
                "tokenizer": self.tokenizer.to_dict(), "sampler": self.sampler.state_dict(),
                "rng": rng_state(), "history": self.history, "torch_version": str(torch.__version__),
                **({"grad_scaler": self.scaler.state_dict()} if self.scaler is not None else {})}

    def _restore(self, ckpt: dict) -> None:
        if GPTConfig.from_dict(ckpt["model_config"]) != self.model.config:
            raise ValueError("the checkpoint's model configuration differs from this run's.")
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.sampler.load_state_dict(ckpt["sampler"])
        set_rng_state(ckpt["rng"])
        if self.scaler is not None and "grad_scaler" in ckpt:
            self.scaler.load_state_dict(ckpt["grad_scaler"])
        self.step, self.elapsed, self.history = ckpt["step"], ckpt["elapsed"], list(ckpt["history"])

    def save(self, path=None):
        """Write the checkpoint atomically (only the main process writes). Returns its path."""
        path = path if path is not None else self.out_dir
        if path is None or not self.dist.is_main:
            return None
        return str(save_checkpoint(self.state_dict(), path))

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Mean loss on the same fixed ``eval_iters`` batches of each split (averaged over
        processes), in float32 whatever precision the training steps use."""
        was_training = self.model.training
        self.model.eval()
        means = []  # on the device until the one read below
        for split in ("train", "val"):
            losses = [self.model(x, y, check_ids=False)[1] for x, y in self.eval_batches[split]]
            means.append(torch.stack(losses).double().mean())
        self.model.train(was_training)
        train_loss, val_loss = all_reduce_mean(torch.stack(means).tolist(), self.dist, self.device)
        return {"train_loss": train_loss, "val_loss": val_loss}

    # ------------------------------------------------------------------ the loop
    def _emit(self, record: dict, bar=None) -> None:
        self.history.append(record)
        for cb in self.callbacks if self.dist.is_main else ():
            cb(dict(record))
        if "val_loss" in record and self._log is not None and self.dist.is_main:
            tps = self.last("tokens_per_s")
            speed = f"{tps / 1e3:.1f}k tok/s" if tps is not None else "- tok/s"
            line = (f"step {record['step']:>6}: train {record['train_loss']:.4f}, val {record['val_loss']:.4f}, "
                    f"lr {record['lr']:.2e}, {speed}, "
                    f"{record['elapsed']:.1f} s")
            bar.write(line) if bar is not None else self._log(line)

    def train(self) -> TrainResult:
        """Run until the budget is used up (or Ctrl-C / kernel interrupt, which saves and stops)."""
        from tqdm.auto import tqdm

        cfg, model = self.cfg, self.model
        ckpt_every = cfg.checkpoint_interval or cfg.eval_interval
        tokens_per_step = cfg.batch_size * cfg.model.block_size
        timed = cfg.max_time is not None
        bar = None
        if self.show_progress and self.dist.is_main:
            bar = tqdm(total=round(cfg.max_time) if timed else cfg.max_iters, unit="s" if timed else "step",
                       initial=min(round(self.elapsed), round(cfg.max_time)) if timed else self.step,
                       desc="training", dynamic_ncols=True)
        interrupted = False
        if self._log is not None and self.dist.is_main and self.dtype != torch.float32:
            self._log(f"precision {cfg.precision!r}: the forward pass runs under {self.dtype} autocast "
                      f"on {self.device.type}{' with a gradient scaler' if self.scaler is not None else ''} "
                      f"(weights and optimizer state stay float32); "
                      f"precision='fp32' turns it off.")
        model.train()
        if cfg.fast_kernels:
            keep_freed_memory()  # no page faults for each step's activations (see training.speed)
        with deterministic_on_cpu(self.device):
            net = model
            if self.dist.enabled:
                from torch.nn.parallel import DistributedDataParallel as DDP

                net = DDP(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
            run = maybe_compile(net, cfg.compile, log=self._log or (lambda s: None), mode=cfg.compile_mode)
            t0, base = time.perf_counter(), self.elapsed
            win_t, win_steps = t0, 0
            lr = learning_rate_at(self.step, progress(self.step, self.elapsed, cfg), cfg)
            evaluated = {r["step"] for r in self.history if "val_loss" in r}
            saved_step = self.step if self.step > 0 else None  # a resumed run starts from its checkpoint
            try:
                while True:
                    now = time.perf_counter()
                    self.elapsed = base + (now - t0)
                    if timed and self.dist.enabled:
                        self.elapsed = all_reduce_max(self.elapsed, self.dist, self.device)
                    prog = progress(self.step, self.elapsed, cfg)
                    done = prog >= 1.0
                    if (self.step % cfg.eval_interval == 0 or done) and self.step not in evaluated:
                        self._emit({"step": self.step, "lr": lr, "elapsed": self.elapsed, **self.evaluate()}, bar)
                        evaluated.add(self.step)
                    if (self.step % ckpt_every == 0 or done) and self.step != saved_step:
                        self.save()
                        saved_step = self.step
                    if done:
                        break
                    lr = learning_rate_at(self.step, prog, cfg)
                    for group in self.optimizer.param_groups:
                        group["lr"] = lr
                    run, loss = compile_or_fallback(run, net, self._train_step, log=self._log or (lambda s: None))
                    self.step += 1
                    win_steps += 1
                    if self.step % cfg.log_interval == 0:
                        t = time.perf_counter()
                        tps = tokens_per_step * win_steps / max(t - win_t, 1e-9)
                        win_t, win_steps = t, 0
                        loss_v = all_reduce_mean([loss.item()], self.dist, self.device)[0]
                        self._emit({"step": self.step, "loss": loss_v, "lr": lr, "tokens_per_s": tps,
                                    "elapsed": base + (t - t0)})
                        if bar is not None:
                            val = self.last("val_loss")
                            bar.set_postfix(loss=f"{loss_v:.3f}", val="-" if val is None else f"{val:.3f}",
                                            step=self.step, refresh=False)
                    if bar is not None:
                        bar.update((min(round(base + time.perf_counter() - t0), bar.total) - bar.n)
                                   if timed else 1)
            except KeyboardInterrupt:
                interrupted = True
                self.save()
                if self._log is not None and self.dist.is_main:
                    where = f"; checkpoint in {self.out_dir}" if self.out_dir else ""
                    self._log(f"interrupted at step {self.step}{where}.")
        if bar is not None:
            bar.close()
            if hasattr(bar, "container") and self._log is not None:
                # a notebook bar is a widget: a saved notebook keeps only its first text ("0/300"),
                # so leave its final state as a plain line too
                self._log(str(bar))
        model.eval()
        return TrainResult(model, self.tokenizer, self.history, self.step, self.elapsed,
                           str(self.out_dir) if self.out_dir is not None and self.dist.is_main else None,
                           interrupted)

    def last(self, key: str):
        """The latest value of ``key`` in the history so far, or ``None``."""
        return last_value(self.history, key)

    def _train_step(self, net):
        """One optimizer step. It reads nothing back from the device (no ``.item()``, no range
        check of the ids), so on a GPU the host queues the next step while this one runs; the
        loop reads the loss only every ``log_interval`` steps."""
        if self.cfg.compile and self.cfg.compile_mode == "reduce-overhead":
            mark_step_begin()
        self.optimizer.zero_grad(set_to_none=True)
        x, y = self.sampler.next_batch()
        with autocast(self.device, self.dtype):
            _, loss = net(x, y, check_ids=False)  # the corpus was checked once; no wait for the device
        if self.scaler is None:
            loss.backward()
            if self.cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
            self.optimizer.step()
        else:  # fp16: backward on the scaled loss, clip the true gradients, skip a step that overflowed
            self.scaler.scale(loss).backward()
            if self.cfg.grad_clip > 0:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        return loss.detach()


def train(config: TrainConfig | str = "shakespeare-char", **kwargs) -> TrainResult:
    """Shortcut for ``Trainer(config, **kwargs).train()``."""
    return Trainer(config, **kwargs).train()
