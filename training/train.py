"""The training loop: `python -m training train --data DIR --out runs/NAME`.

The batch of step s is a pure function of (seed, rank, s): which samples, which crops, which
flips. With the model, optimiser, scheduler and scaler restored from a checkpoint, `--resume`
therefore continues exactly where the run stopped. Multi-GPU: `torchrun --nproc_per_node N -m
training train ...` (DDP; each rank draws its own batches).
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset

from stereo_geometry.mesh import DEFAULT_HOLE_RULE
from stereo_geometry.writer import read_manifests, write_text

from .checkpoint import atomic_save, init_from, read_checkpoint
from .config import TrainConfig, parse_data
from .dataset import SampleDataset, augment, split_by_source
from .losses import PatchDiscriminator, hinge_d_loss, hinge_g_loss, infill_loss
from .model import MULTIPLE, GatedUNet, select_inputs

log = logging.getLogger(__name__)


class RawPrediction(torch.nn.Module):
    """The model's raw prediction (before compositing) as a module's forward."""

    def __init__(self, model: GatedUNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.raw(x)


class StepBatches(Dataset):
    """Item (step, slot) -> that slot of step's batch: data folder (by weight) and sample
    chosen, cropped and flipped from a seed of (seed, rank, step, slot) only. Crops are
    `crop` square, or as large as the smallest sample allows (rounded down to multiples of 4):
    one shape for every batch."""

    def __init__(self, folders: list[tuple[SampleDataset, float]], batch_size: int, crop: int,
                 seed: int, rank: int, colour: float = 0.0, border_strip: float = 0.0) -> None:
        self.folders = [(samples, weight) for samples, weight in folders if len(samples)]
        if not self.folders:
            raise ValueError("no training samples")
        weights = np.array([w for _, w in self.folders])
        self.probabilities = weights / weights.sum()
        smallest = np.min([samples.smallest_size() for samples, _ in self.folders], axis=0)
        # sides the network takes whole (multiples of MULTIPLE)
        self.crop = tuple(min(crop, int(side)) // MULTIPLE * MULTIPLE for side in smallest)
        self.batch_size, self.seed, self.rank, self.colour = batch_size, seed, rank, colour
        self.border_strip = border_strip

    def __len__(self) -> int:
        return 2 ** 62

    def draw(self, key: int) -> tuple[int, int, np.random.Generator]:
        """(folder index, sample index, generator for the crop and flips) of item `key`."""
        step, slot = divmod(key, self.batch_size)
        rng = np.random.default_rng([self.seed, self.rank, step, slot])
        folder = int(rng.choice(len(self.folders), p=self.probabilities))
        return folder, int(rng.integers(len(self.folders[folder][0]))), rng

    def __getitem__(self, key: int) -> tuple[torch.Tensor, torch.Tensor]:
        folder, index, rng = self.draw(key)
        x, target = self.folders[folder][0].load(index)
        x, target = augment(x, target, rng, self.crop, self.colour, self.border_strip)
        return torch.from_numpy(x), torch.from_numpy(target)


def image_grid(rows: list[torch.Tensor]) -> torch.Tensor:
    """One (3, H * rows, W * n) image from rows of (n, C, H, W) images in [0, 1]."""
    return torch.cat([torch.cat(list(r.float().clamp(0, 1).expand(-1, 3, -1, -1)), dim=2)
                      for r in rows], dim=1)


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 10 % of the peak."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


@torch.no_grad()
def validate(model: torch.nn.Module, samples: SampleDataset, config: TrainConfig,
             device: torch.device) -> float:
    """Mean L1 inside the holes, where the target is known, over the validation samples
    (whole frames)."""
    model.eval()
    total, count = 0.0, 0
    for i in range(len(samples)):
        x, target = (torch.from_numpy(a)[None].to(device) for a in samples.load(i))
        target, region = target[:, :-1], x[:, 3:4] * target[:, -1:]
        out = model(select_inputs(x, config.inputs))
        total += float(((out - target).abs() * region).sum() / region.sum().clamp(min=1) / target.shape[1])
        count += 1
    model.train()
    return total / max(count, 1)


def distributed_setup() -> tuple[bool, int, torch.device]:
    """(whether torchrun started several processes, this one's rank, its device)."""
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if distributed else 0
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
    return distributed, rank, device


def load_data(config: TrainConfig) -> tuple[list[tuple[SampleDataset, float]], dict[str, SampleDataset]]:
    """The training sets with their weights, and the validation sets keyed by their folder as
    given (two folders of one name stay apart); `config.hole_rule` set to the data's (one
    for all of it)."""
    train_sets, val_sets, rules = [], {}, {}
    for entry in config.data:
        folder, weight = parse_data(entry)
        records = read_manifests(Path(folder))
        if not records:
            raise SystemExit(f"no samples in {folder} (no manifest*.jsonl)")
        for record in records:
            rules.setdefault(record.get("hole_rule", DEFAULT_HOLE_RULE.name), folder)
        train_records, val_records = split_by_source(records, config.val_fraction, config.seed)
        train_sets.append((SampleDataset(folder, train_records, config.target), weight))
        if val_records:
            val_sets[folder] = SampleDataset(folder, val_records, config.target)
    if len(rules) > 1:
        raise SystemExit("the data mixes hole rules (" + ", ".join(f"{rule} in {folder}" for rule, folder in rules.items())
                         + "): a model learns one (python -m datagen_bpy --hole-rule)")
    config.hole_rule = next(iter(rules))
    return train_sets, val_sets


class Run:
    """A training run's model, optimisers and progress: one optimiser step at a time, its
    checkpoints, and the restore that `--resume` and `--init` make."""

    def __init__(self, config: TrainConfig, device: torch.device, distributed: bool,
                 val_sets: dict[str, SampleDataset]) -> None:
        self.config, self.device = config, device
        self.model = GatedUNet(config.model).to(device)
        self.predict = RawPrediction(self.model)  # what DDP wraps: its forward is the one with gradients
        if distributed:
            self.predict = torch.nn.parallel.DistributedDataParallel(
                self.predict, device_ids=[device.index] if device.type == "cuda" else None)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.use_amp = device.type == "cuda"
        self.amp_dtype = torch.bfloat16 if self.use_amp and torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp and self.amp_dtype == torch.float16)
        self.discriminator = self.d_optimizer = None
        if config.losses.adversarial > 0:
            self.discriminator = PatchDiscriminator(config.model.out_channels + 1).to(device)
            self.d_optimizer = torch.optim.AdamW(self.discriminator.parameters(), lr=config.lr, betas=(0.5, 0.999))
        self.step, self.best_val, self.bad_steps = 0, math.inf, 0
        self.val_fingerprint = {name: sorted(r["name"] for r in samples.records) for name, samples in val_sets.items()}

    def checkpoint(self, path: Path) -> None:
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "scaler": self.scaler.state_dict(), "step": self.step, "best_val": self.best_val,
                 "val_sets": self.val_fingerprint, "config": asdict(self.config)}
        if self.discriminator is not None:
            state |= {"discriminator": self.discriminator.state_dict(), "d_optimizer": self.d_optimizer.state_dict()}
        atomic_save(state, path)

    def resume(self, path: Path) -> bool:
        """Continue from a checkpoint; whether its validation samples were others (then the
        best checkpoint is chosen anew)."""
        state = read_checkpoint(path, self.device)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        if self.discriminator is not None and "discriminator" in state:
            self.discriminator.load_state_dict(state["discriminator"])
            self.d_optimizer.load_state_dict(state["d_optimizer"])
        self.step, self.best_val = state["step"], state["best_val"]
        if state.get("val_sets") != self.val_fingerprint:
            self.best_val = math.inf  # other validation samples: the old best is not comparable
            return True
        return False

    def train_step(self, x: torch.Tensor, target: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor] | None:
        """One optimiser step on a batch: the loss terms and the composited output, or None
        for a non-finite loss (skipped; FloatingPointError after `max_bad_steps` in a row)."""
        config = self.config
        target, known = target[:, :-1], target[:, -1:]
        hole = x[:, 3:4]
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.step, config)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
            raw = self.predict(x)
            output = torch.where(hole > 0.5, raw, target)  # composite against the truth
            terms = infill_loss(raw.float(), output.float(), target, hole, config.losses, known)
            loss = terms["total"]
            if self.discriminator is not None:
                loss = loss + config.losses.adversarial * hinge_g_loss(self.discriminator(output, hole))
        self.step += 1
        if not torch.isfinite(loss):
            self.bad_steps += 1
            self.optimizer.zero_grad(set_to_none=True)
            if self.bad_steps >= config.max_bad_steps:
                raise FloatingPointError(f"{self.bad_steps} non-finite losses in a row at step {self.step - 1}")
            return None
        self.bad_steps = 0
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.discriminator is not None:
            self.d_optimizer.zero_grad(set_to_none=True)
            d_loss = hinge_d_loss(self.discriminator(target, hole), self.discriminator(output.detach(), hole))
            d_loss.backward()
            self.d_optimizer.step()
            terms["discriminator"] = d_loss.detach()
        return terms, output

    def validate(self, val_sets: dict[str, SampleDataset]) -> dict[str, float]:
        """Validation hole L1 per folder and their mean (`val_hole_l1`)."""
        metrics = {f"val_hole_l1/{name}": validate(self.model, samples, self.config, self.device)
                   for name, samples in val_sets.items()}
        metrics["val_hole_l1"] = float(np.mean(list(metrics.values())))
        return metrics


def train(config: TrainConfig, resume: bool = False, progress: bool = True) -> dict:
    """Train; returns the final metrics. Writes `OUT/last.pt`, `OUT/best.pt` (lowest
    validation hole L1), `OUT/config.json` and TensorBoard logs in `OUT/tb`."""
    from tqdm import tqdm

    distributed, rank, device = distributed_setup()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    train_sets, val_sets = load_data(config)
    run = Run(config, device, distributed, val_sets)
    last = out / "last.pt"
    if resume and last.exists():
        if run.resume(last) and rank == 0:
            log.info("--resume: the validation samples changed; best.pt is chosen anew")
    elif config.init:
        fresh = init_from(run.model, config.init)
        if fresh and rank == 0:
            log.info("--init %s: %d tensors not in it start fresh: %s", config.init, len(fresh),
                     ", ".join(fresh[:8]) + (" ..." if len(fresh) > 8 else ""))
    writer = None
    if rank == 0:
        from torch.utils.tensorboard import SummaryWriter

        write_text(out / "config.json", json.dumps(asdict(config), indent=2))
        writer = SummaryWriter(str(out / "tb"), purge_step=run.step)
    batches = DataLoader(StepBatches(train_sets, config.batch_size, config.crop, config.seed, rank,
                                     config.colour_augment, config.border_strip),
                         batch_size=config.batch_size,
                         sampler=range(run.step * config.batch_size, config.steps * config.batch_size),
                         num_workers=config.loader_workers, persistent_workers=False)
    run.predict.train()
    bar = tqdm(total=config.steps, initial=run.step, disable=not progress or rank != 0,
               unit="step", dynamic_ncols=True)
    started, seen = time.perf_counter(), 0
    metrics: dict = {}
    for x, target in batches:
        x, target = select_inputs(x.to(device), config.inputs), target.to(device)
        done = run.train_step(x, target)
        if done is None:
            continue
        terms, output = done
        step = run.step
        seen += x.shape[0]
        metrics = {k: float(v.detach()) for k, v in terms.items()}
        if rank == 0:
            bar.set_postfix(loss=f"{metrics['total']:.4f}", samples_s=f"{seen / (time.perf_counter() - started):.1f}")
            bar.update(1)
            for name, value in metrics.items():
                writer.add_scalar(f"train/{name}", value, step)
            writer.add_scalar("train/lr", learning_rate(step - 1, config), step)
            if step % config.image_every == 0 or step == config.steps:
                shown = [x[:4, :3], x[:4, 3:4], output[:4].detach(), target[:4, :-1]]
                writer.add_image("train/input_hole_output_target", image_grid(shown), step)
            if val_sets and (step % config.val_every == 0 or step == config.steps):
                metrics |= run.validate(val_sets)
                for name, value in metrics.items():
                    if name.startswith("val_"):
                        writer.add_scalar(name.replace("val_hole_l1", "val/hole_l1"), value, step)
                bar.write(f"step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k.startswith("val_")))
                if metrics["val_hole_l1"] < run.best_val:
                    run.best_val = metrics["val_hole_l1"]
                    run.checkpoint(out / "best.pt")
            if step % config.checkpoint_every == 0 or step == config.steps:
                run.checkpoint(last)
        if run.step >= config.steps:
            break
    bar.close()
    if writer is not None:
        writer.close()
    if distributed:
        dist.destroy_process_group()
    metrics["step"] = run.step
    return metrics
