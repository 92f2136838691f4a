"""python -m tsdyn.sweep end to end: kill and resume, dask cluster, CLI errors, quick outputs."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tsdyn.sweep.__main__ import main
from tsdyn.sweep.cache import Cache
from tsdyn.sweep.config import load_config
from tsdyn.targets import fig2a

TINY = """M = 2
K = 3
N = {N}
lr = 0.5
vstar = 4.0
steps = {steps}
sigmas = [0.0]
seeds = {seeds}
test_samples = 0
"""


def tiny_sims(tmp_path, *, N=60, steps=3000, seeds=(0, 1)) -> Path:
    sims = tmp_path / "sims"
    sims.mkdir()
    (sims / "fig2a.toml").write_text(TINY.format(N=N, steps=steps, seeds=list(seeds)))
    return sims


def cached_files(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.glob("*.npz")) if cache_dir.exists() else []


@pytest.mark.slow
def test_a_killed_sweep_resumes_without_losing_or_corrupting_runs(tmp_path):
    # Each run takes a fraction of a second; the sweep is killed as soon as the first is cached.
    seeds = tuple(range(8))
    sims = tiny_sims(tmp_path, N=200, steps=150_000, seeds=seeds)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "tsdyn.sweep", "fig2a", "--sims", str(sims), "--out", str(out),
           "--workers", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 120
    while not cached_files(out / ".cache") and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    survivors = cached_files(out / ".cache")
    assert 1 <= len(survivors) < len(seeds), "the sweep must be killed mid-way for this test to mean anything"
    cfg = load_config("fig2a", sims)
    cache = Cache(out / ".cache")
    finished = [job for job in fig2a.jobs(cfg, quick=False) if cache.path(job).exists()]
    for job in finished:  # every file that exists is complete and belongs to its job
        assert cache.load(job)["w"].shape == (3, 200)
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"{len(finished)} reused from cache, {len(seeds) - len(finished)} computed" in rerun.stdout
    assert (out / "fig2a.csv").exists() and (out / "fig2a.png").exists()


@pytest.mark.slow
def test_dask_cluster_gives_the_same_results_as_the_process_pool(tmp_path):
    distributed = pytest.importorskip("distributed")
    sims = tiny_sims(tmp_path)
    local = tmp_path / "local"
    assert main(["fig2a", "--sims", str(sims), "--out", str(local), "--workers", "2", "--no-progress"]) == 0
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote = tmp_path / "dask"
        assert main(["fig2a", "--sims", str(sims), "--out", str(remote), "--no-progress",
                     "--dask-scheduler", cluster.scheduler_address]) == 0
    assert (local / "fig2a.csv").read_text() == (remote / "fig2a.csv").read_text()


@pytest.mark.slow
def test_serial_and_pool_write_byte_identical_tables(tmp_path):
    # fig2b (K = 20) has BLAS calls large enough to be threaded: their last digits must not depend
    # on the process (this one, or a pool worker) that ran the job or the report.
    common = ["fig2b", "--quick", "--no-cache", "--no-progress"]
    assert main(common + ["--serial", "--out", str(tmp_path / "serial")]) == 0
    assert main(common + ["--workers", "2", "--out", str(tmp_path / "pool")]) == 0
    assert (tmp_path / "serial" / "fig2b.csv").read_bytes() == (tmp_path / "pool" / "fig2b.csv").read_bytes()


def test_rerun_reuses_everything_and_summary_says_so(tmp_path, capsys):
    sims = tiny_sims(tmp_path)
    args = ["fig2a", "--sims", str(sims), "--out", str(tmp_path / "o"), "--serial", "--no-progress"]
    assert main(args) == 0
    assert "0 reused from cache, 2 computed" in capsys.readouterr().out
    assert main(args) == 0
    assert "2 reused from cache, 0 computed" in capsys.readouterr().out
    header = (tmp_path / "o" / "fig2a.csv").read_text().splitlines()[0]
    assert header.startswith("sigma,seed,method,reweight,kn,eps")


def test_cli_rejects_bad_arguments_with_clear_messages(tmp_path, capsys):
    sims = tiny_sims(tmp_path)
    assert main(["fig9", "--sims", str(sims), "--out", str(tmp_path)]) == 2
    assert "unknown target(s) fig9" in capsys.readouterr().err
    assert main(["fig2a", "--sims", str(sims), "--out", str(tmp_path), "--workers", "0"]) == 2
    assert "--workers must be in 1..1024" in capsys.readouterr().err
    assert main(["fig2b", "--sims", str(sims), "--out", str(tmp_path)]) == 2
    assert "no experiment definition for target 'fig2b'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "--dask-scheduler" in capsys.readouterr().out


def test_fig2a_rows_agree_with_independent_pruning_of_the_weights(tmp_path):
    # The comparison layer against a direct computation: delete nodes from w, recompute Q, R, eps.
    from tsdyn.eg import eg_of
    from tsdyn.order_parameters import OrderParameters
    from tsdyn.pruning.study import pruning_table
    from tsdyn.targets.students import students
    from tsdyn.targets.training import training_jobs, training_name

    cfg = load_config("fig2a", tiny_sims(tmp_path))
    result = training_jobs(cfg)[0].run()  # N = 60, K = 3, sigma = 0, seed 0
    trained = list(students(cfg, {training_name(cfg, 0.0, 0): result, training_name(cfg, 0.0, 1): result}))
    rows = pruning_table(trained, range(1, cfg["K"] + 1))  # what fig2a reports
    w, v, ws = result["w"], result["v"], result["wstar"]
    by_key = {(r["method"], r["reweight"], r["kn"]): r["eps"] for r in rows if r["seed"] == 0}
    subsets = [(0,), (1,), (2,)]
    direct = [eg_of(OrderParameters.from_weights(w[list(S)], v[list(S)], ws, 4.0)) for S in subsets]
    assert by_key[("random", "none", 1)] == pytest.approx(np.mean(direct), rel=1e-12)
    importance = int(np.argmax(np.abs(v)))
    assert by_key[("importance", "none", 1)] == pytest.approx(direct[importance], rel=1e-12)
    Q = w @ w.T / 60  # 1-DPP with kernel Q picks node i with probability Q_ii / tr Q
    assert by_key[("dpp", "none", 1)] == pytest.approx(np.dot(np.diag(Q), direct) / np.trace(Q), rel=1e-10)


def test_experiments_ship_with_the_package(tmp_path, monkeypatch):
    """From a folder without sims/, the sweep finds the packaged TOMLs; --list names every target."""
    import subprocess
    import sys

    from tsdyn.sweep.config import TARGETS, find_sims_dir

    monkeypatch.chdir(tmp_path)
    sims = find_sims_dir()
    assert sorted(p.stem for p in sims.glob("*.toml")) == sorted(TARGETS)
    (tmp_path / "sims").mkdir()
    assert find_sims_dir() == tmp_path / "sims"            # a local sims/ overrides the packaged ones
    out = subprocess.run([sys.executable, "-m", "tsdyn.sweep", "--list"], capture_output=True, text=True,
                         cwd=tmp_path, check=True).stdout.splitlines()
    assert [line.split()[0] for line in out] == list(TARGETS)
    assert all(len(line.split(maxsplit=1)) == 2 for line in out)


def test_theorems_md_is_assembled_from_each_targets_section_in_name_order(tmp_path):
    from tsdyn.outputs import THEOREM_SECTIONS, assemble_theorems

    assert assemble_theorems(tmp_path) is None
    sections = tmp_path / THEOREM_SECTIONS
    sections.mkdir()
    (sections / "30_retrain.md").write_text("## Retraining\n\nthird\n")
    (sections / "10_theorems.md").write_text("# Theorems\n\nfirst\n\n")
    (sections / "20_theorems_zc.md").write_text("## (Z, c)\nsecond")
    text = assemble_theorems(tmp_path).read_text()
    assert text == "# Theorems\n\nfirst\n\n## (Z, c)\nsecond\n\n## Retraining\n\nthird\n"


def test_csv_cells_are_plain_numbers_for_numpy_scalars(tmp_path):
    import numpy as np

    from tsdyn.outputs import write_rows

    path = write_rows([{"a": np.float64(0.1), "b": np.int64(3), "c": 0.25, "d": np.float32(0.5)}], tmp_path / "x.csv")
    assert path.read_text().splitlines() == ["a,b,c,d", "0.1,3,0.25,0.5"]
