"""Per-trial start-up of a sweep trial on the default config: CPU and wall time from the call that
trains a configuration to its first training step, the epoch, and the test; and the imports a
spawned worker pays once. Run: OMP_NUM_THREADS=1 python /tmp/i21-startup.py (from the worktree)."""
import os, resource, sys, time
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
w0, c0 = time.perf_counter(), cpu()
import torch, lightning  # noqa
from locomt.search import workers  # noqa: what a spawned sweep worker imports
from locomt.config import load_config, with_model
from locomt.runs import train_cached
from locomt import task as task_mod
w1, c1 = time.perf_counter(), cpu()
print(f"imports (torch, lightning, locomt.search.workers): wall {w1-w0:.1f} s, cpu {c1-c0:.1f} s", flush=True)
torch.set_num_threads(1)
marks = {}
orig = task_mod.MultimodalTask.training_step
def step(self, *a, **k):
    marks.setdefault("first_step", (time.perf_counter(), cpu()))
    return orig(self, *a, **k)
task_mod.MultimodalTask.training_step = step
orig_test = task_mod.MultimodalTask.test_step
def tstep(self, *a, **k):
    marks.setdefault("first_test", (time.perf_counter(), cpu()))
    return orig_test(self, *a, **k)
task_mod.MultimodalTask.test_step = tstep
cfg = load_config("experiments/synthetic-medvidcl.yaml", ["trainer.max_epochs=1", f"trainer.out_dir={sys.argv[1]}"])
cfg = with_model(cfg, "joint") if sys.argv[2] == "joint" else cfg  # the default: locomt all-cross
w2, c2 = time.perf_counter(), cpu()
rec, _ = train_cached(cfg, f"{sys.argv[1]}/configs")
w3, c3 = time.perf_counter(), cpu()
fw, fc = marks["first_step"]; tw, tc = marks["first_test"]
print(f"{sys.argv[2]} 1 epoch, 1 thread: call to first training step wall {fw-w2:.1f} s cpu {fc-c2:.1f} s; "
      f"first step to first test step (1 epoch of 27 steps + validation + checkpoints) wall {tw-fw:.1f} s cpu {tc-fc:.1f} s; "
      f"test and record wall {w3-tw:.1f} s cpu {c3-tc:.1f} s; whole call wall {w3-w2:.1f} s cpu {c3-c2:.1f} s", flush=True)
