"""One run across several processes (``torchrun``): data parallelism with the same mathematics.

Under ``torchrun --nproc_per_node=N gan-adapt run RECIPE`` every process runs the same loop with
the same seed, so every process draws the same latents, noise and crop positions. Each process
then keeps only its shard of the batch (when the batch divides by N; a smaller batch, such as a
reference step's single latent, is computed whole by every process). Gradients are averaged
across processes before each optimiser step. This equals the single-process step:

* a term that is a mean over samples: the average of the shards' means is the batch mean;
* a term that couples samples (L_con's pairwise similarities) gathers the shards' embeddings
  with :meth:`Distributed.gather`, whose backward sums the gradient contributions of every
  process; every process computes the same full term, so the average of the gradients is the
  full gradient again.

(A discriminator whose minibatch-standard-deviation layer sees a sharded batch would see only
its shard: OneShotCLIP's sharded steps use the patch discriminator, which stops before that
layer, and its global discriminator runs on the unsharded reference batch.)

Only rank 0 writes the run folder; the others read it (on resume) and wait at barriers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from gan_adapt.errors import InputError


@dataclass(frozen=True)
class Distributed:
    """This process's place in a multi-process run (``world == 1``: a normal run)."""

    rank: int = 0
    world: int = 1

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """The process that writes files and prints progress."""
        return self.rank == 0

    def shard(self, batch: int) -> slice:
        """This process's part of a batch of ``batch`` samples (all of it when not divisible)."""
        if not self.active or batch % self.world != 0:
            return slice(None)
        size = batch // self.world
        return slice(self.rank * size, (self.rank + 1) * size)

    def gather(self, x: torch.Tensor, shard: slice) -> torch.Tensor:
        """The whole batch from every process's shard, differentiably (identity if unsharded)."""
        if not self.active or shard == slice(None):
            return x
        import torch.distributed.nn.functional as dist_fn

        return torch.cat(dist_fn.all_gather(x.contiguous()))

    def average_gradients(self, params: list[torch.nn.Parameter]) -> None:
        """Average ``.grad`` over processes, in one flat all-reduce."""
        if not self.active:
            return
        import torch.distributed as dist

        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def average_values(self, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Logged values as the mean over processes (what a single process would log)."""
        if not self.active or not values:
            return values
        import torch.distributed as dist

        keys = sorted(values)
        stacked = torch.stack([values[k].detach().float().reshape(()) for k in keys])
        dist.all_reduce(stacked)
        return dict(zip(keys, (stacked / self.world).unbind()))

    def barrier(self) -> None:
        if self.active:
            import torch.distributed as dist

            dist.barrier()

    def broadcast(self, obj: object) -> object:
        """Rank 0's ``obj`` on every process."""
        if not self.active:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]


_current = Distributed()


def current() -> Distributed:
    """The process's :class:`Distributed` (set up by :func:`init_from_env`)."""
    return _current


def init_from_env() -> Distributed:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1), else a single process.

    CUDA runs use NCCL with one GPU per local rank; CPU runs use gloo. A malformed ``WORLD_SIZE``,
    ``RANK`` or ``LOCAL_RANK`` is refused with one line naming the variable.
    """
    global _current
    world = _env_int("WORLD_SIZE", 1, MAX_WORLD_SIZE)
    last = world - 1 if world > 1 else MAX_WORLD_SIZE  # one process ignores ranks' values
    rank = _env_int("RANK", 0, last)
    local_rank = _env_int("LOCAL_RANK", 0, last)
    if world <= 1:
        _current = Distributed()
        return _current
    import torch.distributed as dist

    if not dist.is_initialized():
        try:
            if torch.cuda.is_available():
                if local_rank >= torch.cuda.device_count():
                    raise DistributedSetupError(
                        f"LOCAL_RANK={local_rank}, but this machine has "
                        f"{torch.cuda.device_count()} GPU(s); torchrun's --nproc_per_node must "
                        "not exceed them")
                torch.cuda.set_device(local_rank)
                dist.init_process_group("nccl")
            else:
                dist.init_process_group("gloo")
        except ValueError as exc:  # torch's env:// rendezvous: a missing or bad variable
            reason = (str(exc).strip() or type(exc).__name__).splitlines()[0]
            raise DistributedSetupError(
                f"cannot join the process group WORLD_SIZE={world} RANK={rank} describes: "
                f"{reason} (start "
                "multi-process runs with torchrun, which sets every variable; unset WORLD_SIZE "
                "for one process)") from None
    _current = Distributed(dist.get_rank(), dist.get_world_size())
    return _current


#: More processes than any job has; a larger WORLD_SIZE is a typo.
MAX_WORLD_SIZE = 1 << 20


class DistributedSetupError(InputError):
    """torchrun's environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``) is malformed."""


def _env_int(name: str, default: int, maximum: int) -> int:
    """The whole number in the environment variable ``name`` (``default`` when unset), which
    must lie in ``[0, maximum]`` (``[1, maximum]`` for WORLD_SIZE)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    minimum = 1 if name == "WORLD_SIZE" else 0
    shown = raw if len(raw) <= 40 else raw[:40] + "..."
    text = raw.strip()
    value = int(text) if text.isascii() and text.lstrip("+-").isdigit() else None
    if value is None or not minimum <= value <= maximum:
        where = f"a whole number from {minimum} to {maximum}"
        context = (f" (WORLD_SIZE is {os.environ.get('WORLD_SIZE', '1 (unset)')})"
                   if name != "WORLD_SIZE" else "")
        raise DistributedSetupError(
            f"the environment variable {name}={shown!r} is not {where}{context}. torchrun sets "
            f"it for multi-process runs; unset it to run one process")
    return value
