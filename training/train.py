"""The training loop: `python -m training train --data DIR --out runs/NAME`.

The batch of step s is a pure function of (seed, rank, s): which samples, which crops, which
flips. With the model, optimiser, scheduler and scaler restored from a checkpoint, `--resume`
therefore continues exactly where the run stopped. Multi-GPU: `torchrun --nproc_per_node N -m
training train ...` (DDP; each rank draws its own batches).
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset

from stereo_geometry.writer import read_manifests

from .checkpoint import atomic_save, init_from, read_checkpoint
from .config import TrainConfig, parse_data
from .dataset import SampleDataset, augment, split_by_source
from .losses import PatchDiscriminator, hinge_d_loss, hinge_g_loss, infill_loss
from .model import MULTIPLE, GatedUNet, select_inputs


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


def train(config: TrainConfig, resume: bool = False, progress: bool = True) -> dict:
    """Train; returns the final metrics. Writes `OUT/last.pt`, `OUT/best.pt` (lowest
    validation hole L1), `OUT/config.json` and TensorBoard logs in `OUT/tb`."""
    from tqdm import tqdm

    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if distributed else 0
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)

    train_sets, val_sets = [], {}
    for entry in config.data:
        folder, weight = parse_data(entry)
        records = read_manifests(Path(folder))
        if not records:
            raise SystemExit(f"no samples in {folder} (no manifest*.jsonl)")
        train_records, val_records = split_by_source(records, config.val_fraction, config.seed)
        train_sets.append((SampleDataset(folder, train_records, config.target), weight))
        if val_records:
            val_sets[Path(folder).name] = SampleDataset(folder, val_records, config.target)

    raw_model = GatedUNet(config.model).to(device)
    predict = RawPrediction(raw_model)  # what DDP wraps: its forward is the one with gradients
    if distributed:
        predict = torch.nn.parallel.DistributedDataParallel(
            predict, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = torch.optim.AdamW(raw_model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    use_amp = device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    discriminator = d_optimizer = None
    if config.losses.adversarial > 0:
        discriminator = PatchDiscriminator(config.model.out_channels + 1).to(device)
        d_optimizer = torch.optim.AdamW(discriminator.parameters(), lr=config.lr, betas=(0.5, 0.999))

    step, best_val, bad_steps = 0, math.inf, 0
    val_fingerprint = {name: sorted(r["name"] for r in samples.records) for name, samples in val_sets.items()}
    last = out / "last.pt"
    if resume and last.exists():
        state = read_checkpoint(last, device)
        raw_model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        if discriminator is not None and "discriminator" in state:
            discriminator.load_state_dict(state["discriminator"])
            d_optimizer.load_state_dict(state["d_optimizer"])
        step, best_val = state["step"], state["best_val"]
        if state.get("val_sets") != val_fingerprint:
            best_val = math.inf  # other validation samples: the old best is not comparable
            if rank == 0:
                print("--resume: the validation samples changed; best.pt is chosen anew", flush=True)
    elif config.init:
        fresh = init_from(raw_model, config.init)
        if fresh and rank == 0:
            print(f"--init {config.init}: {len(fresh)} tensors not in it start fresh: "
                  + ", ".join(fresh[:8]) + (" ..." if len(fresh) > 8 else ""), flush=True)
    if rank == 0:
        (out / "config.json").write_text(json.dumps(asdict(config), indent=2))

    def checkpoint(path: Path) -> None:
        state = {"model": raw_model.state_dict(), "optimizer": optimizer.state_dict(),
                 "scaler": scaler.state_dict(), "step": step, "best_val": best_val,
                 "val_sets": val_fingerprint,
                 "config": asdict(config)}
        if discriminator is not None:
            state |= {"discriminator": discriminator.state_dict(), "d_optimizer": d_optimizer.state_dict()}
        atomic_save(state, path)

    writer = None
    if rank == 0:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out / "tb"), purge_step=step)
    batches = DataLoader(StepBatches(train_sets, config.batch_size, config.crop, config.seed, rank,
                                     config.colour_augment, config.border_strip),
                         batch_size=config.batch_size,
                         sampler=range(step * config.batch_size, config.steps * config.batch_size),
                         num_workers=config.loader_workers, persistent_workers=False)
    predict.train()
    bar = tqdm(total=config.steps, initial=step, disable=not progress or rank != 0,
               unit="step", dynamic_ncols=True)
    started, seen = time.perf_counter(), 0
    metrics: dict = {}
    for x, target in batches:
        x, target = select_inputs(x.to(device), config.inputs), target.to(device)
        target, known = target[:, :-1], target[:, -1:]
        hole = x[:, 3:4]
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, config)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
            raw = predict(x)
            output = torch.where(hole > 0.5, raw, target)  # composite against the truth
            terms = infill_loss(raw.float(), output.float(), target, hole, config.losses, known)
            loss = terms["total"]
            if discriminator is not None:
                fake_score = discriminator(output, hole)
                loss = loss + config.losses.adversarial * hinge_g_loss(fake_score)
        if not torch.isfinite(loss):
            bad_steps += 1
            optimizer.zero_grad(set_to_none=True)
            if bad_steps >= config.max_bad_steps:
                raise FloatingPointError(f"{bad_steps} non-finite losses in a row at step {step}")
            step += 1
            continue
        bad_steps = 0
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(raw_model.parameters(), config.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        if discriminator is not None:
            d_optimizer.zero_grad(set_to_none=True)
            d_loss = hinge_d_loss(discriminator(target, hole), discriminator(output.detach(), hole))
            d_loss.backward()
            d_optimizer.step()
            terms["discriminator"] = d_loss.detach()
        step += 1
        seen += x.shape[0]
        metrics = {k: float(v.detach()) for k, v in terms.items()}
        if rank == 0:
            rate = seen / (time.perf_counter() - started)
            bar.set_postfix(loss=f"{metrics['total']:.4f}", samples_s=f"{rate:.1f}")
            bar.update(1)
            for name, value in metrics.items():
                writer.add_scalar(f"train/{name}", value, step)
            writer.add_scalar("train/lr", learning_rate(step - 1, config), step)
            if step % config.image_every == 0 or step == config.steps:
                shown = [x[:4, :3], hole[:4], output[:4].detach(), target[:4]]
                writer.add_image("train/input_hole_output_target", image_grid(shown), step)
            if val_sets and (step % config.val_every == 0 or step == config.steps):
                for name, val_set in val_sets.items():
                    metrics[f"val_hole_l1/{name}"] = validate(raw_model, val_set, config, device)
                    writer.add_scalar(f"val/hole_l1/{name}", metrics[f"val_hole_l1/{name}"], step)
                metrics["val_hole_l1"] = float(np.mean([metrics[f"val_hole_l1/{n}"] for n in val_sets]))
                writer.add_scalar("val/hole_l1", metrics["val_hole_l1"], step)
                bar.write(f"step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()
                                                        if k.startswith("val_")))
                if metrics["val_hole_l1"] < best_val:
                    best_val = metrics["val_hole_l1"]
                    checkpoint(out / "best.pt")
            if step % config.checkpoint_every == 0 or step == config.steps:
                checkpoint(last)
        if step >= config.steps:
            break
    bar.close()
    if writer is not None:
        writer.close()
    if distributed:
        dist.destroy_process_group()
    metrics["step"] = step
    return metrics
