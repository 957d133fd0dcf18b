"""bench/measure.py's functions on a fake trainer and a fake clock: no framework, no real time.

A fit(n) call "takes" CALL_S + n * EPOCH_S; the window arithmetic, the stop rules and the replays
must come out of those numbers exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from xorbench.backends import History, TrainConfig
from xorbench.bench import measure
from xorbench.bench.measure import (
    convergence_run,
    probe_epochs,
    time_to_solve,
    timing_run,
    window_epochs,
)

CALL_S, EPOCH_S = 1e-4, 1e-5  # a fixed cost per fit() call, and a cost per epoch


class FakeTrainer:
    """Loss falls by 1/epoch from 1.0; it solves (loss < 0.01) at epoch `solve_at`."""

    name, device, mode = "fake", "cpu", "idiomatic"

    def __init__(self, solve_at: int = 10**9):
        self.solve_at, self.setups, self.epoch = solve_at, 0, 0

    def setup(self, config) -> None:
        self.setups, self.epoch = self.setups + 1, 0

    def fit(self, epochs: int) -> np.ndarray:
        done = np.arange(self.epoch, self.epoch + epochs)
        self.epoch += epochs
        return History(np.where(done >= self.solve_at, 0.001, 0.25), np.full(epochs, np.nan))

    def predict(self) -> np.ndarray:
        return np.array([[0.0], [1.0], [1.0], [0.0]])


def fake_clock(trainer, epochs: int):
    return CALL_S + epochs * EPOCH_S, trainer.fit(epochs)


def test_windows_fit_the_run_or_ask_for_replays():
    assert window_epochs(per_epoch_s=1e-5, epochs_left=100_000, repeats=9, window_s=0.1) == (10_000, 10_000)
    assert window_epochs(per_epoch_s=1e-5, epochs_left=2_000, repeats=9, window_s=0.1) == (200, 10_000)
    assert window_epochs(per_epoch_s=10.0, epochs_left=50, repeats=4, window_s=0.1) == (1, 1)
    assert probe_epochs(2000, 10) == 5 and probe_epochs(10, 10) == 1


def test_a_long_run_is_timed_in_windows_sized_from_the_probes():
    config = TrainConfig(epochs=20_000)
    run = timing_run(FakeTrainer(), config, repeats=4, window_s=0.01, budget_s=60, force_full=True, clock=fake_clock)
    # probes of 5 epochs take 1.5e-4 s: 3e-5 s per epoch, so a 0.01 s window wants 333 epochs
    assert run.window == 333 and run.replays == 0 and run.in_run == 4
    assert run.repeats_us == pytest.approx([(CALL_S / 333 + EPOCH_S) * 1e6] * 4)
    assert run.epochs == 20_000 and run.stopped_at is None
    assert [n for n, _ in run.calls[:4]] == [1, 5, 5, 333]  # first epoch, 2 probes, warm-up


def test_a_short_run_is_replayed_until_its_windows_add_up():
    trainer = FakeTrainer()
    config = TrainConfig(epochs=200)
    run = timing_run(trainer, config, repeats=3, window_s=0.05, budget_s=60, force_full=True, clock=fake_clock)
    assert run.window == 47  # (200 - 1 - 2 * 5) // 4: the warm-up and 3 windows fit in the run
    per_replay = 200 // 47 - 1  # windows timed per replay, after its warm-up window
    timed_s = sum(run.repeats_us) * run.window * 1e-6
    assert run.replays >= 1 and len(run.repeats_us) == 3 + per_replay * run.replays
    assert timed_s >= 0.05 or run.replays == measure.MAX_REPLAYS
    assert trainer.setups == 1 + run.replays and run.epochs == 200  # the run itself is 200 epochs


def test_past_its_budget_a_run_stops_once_solved_and_says_where():
    config = TrainConfig(epochs=10**6)
    trainer = FakeTrainer(solve_at=3_000)
    run = timing_run(trainer, config, repeats=3, window_s=0.01, budget_s=1.0, force_full=False, clock=fake_clock)
    assert run.stop_reason == "solved" and run.stopped_at == run.epochs < 10**6
    assert run.result.epoch_solved == 3_000 and run.stopped_at >= 3_000


def test_the_plain_convergence_run_calls_fit_in_chunks():
    run = convergence_run(FakeTrainer(solve_at=50), TrainConfig(epochs=100), clock=fake_clock)
    assert [n for n, _ in run.calls] == [5] * measure.CHUNKS
    assert run.result.epoch_solved == 50 and run.result.solved


def test_time_to_solve_is_build_plus_calls_interpolated_inside_the_solving_call():
    calls = [(1, 0.5), (10, 2.0), (10, 1.0)]
    assert time_to_solve(1.0, calls, 0) == pytest.approx(1.5)
    assert time_to_solve(1.0, calls, 5) == pytest.approx(1.5 + 2.0 * 5 / 10)
    assert time_to_solve(1.0, calls, None) is None and time_to_solve(1.0, calls, 21) is None


def test_sweep_cells_size_their_windows_and_extrapolate():
    assert measure.cell_windows(probe_s=0.001, repeats=3, window_s=0.1) == (100, 3)
    assert measure.cell_windows(probe_s=1.0, repeats=3, window_s=0.1) == (1, 1)
    assert measure.extrapolate(None, 0.0, 100) is None
    assert measure.extrapolate((100, 0.011), 0.001, 1000) == pytest.approx(0.001 + 0.01 * 10)


def test_solve_runs_stop_once_solved_and_time_from_the_build():
    run = measure.solve_run(FakeTrainer(solve_at=30), TrainConfig(epochs=1000), budget_s=60, clock=fake_clock)
    assert run.result.epoch_solved == 30 and run.epochs == 1 + 50  # the first epoch, then one 50-epoch chunk
    # epoch 30 is the 30th of the second call's 50: that call's time, pro rata
    assert run.time_to_solve(30) == pytest.approx(run.setup_s + CALL_S + EPOCH_S + (CALL_S + 50 * EPOCH_S) * 30 / 50)


def compiling_clock():
    """fake_clock, but the first call of each length compiles for 100 s (as torch tuned's do)."""
    lengths: set[int] = set()

    def clock(trainer, epochs: int):
        compiling = 0.0 if epochs in lengths else 100.0
        lengths.add(epochs)
        return compiling + CALL_S + epochs * EPOCH_S, trainer.fit(epochs)

    return clock


def test_a_solve_run_s_budget_leaves_out_the_compiling():
    run = measure.solve_run(FakeTrainer(solve_at=60), TrainConfig(epochs=1000), budget_s=60, clock=compiling_clock())
    assert run.result.epoch_solved == 60 and run.first_epoch_s > 100  # fit(1) and the first fit(50) compiled
    slow = measure.solve_run(FakeTrainer(solve_at=500), TrainConfig(epochs=1000), budget_s=1e-4, clock=fake_clock)
    assert slow.result.epoch_solved is None and slow.epochs == 1 + 50 + 50  # the second chunk spent the budget


def test_a_windowed_trainer_is_probed_and_timed_in_whole_compiled_calls():
    """torch tuned runs 16 epochs per compiled call and the rest one call each: its 5-epoch probe once read
    ~500 µs an epoch (five calls) against ~46 µs, and windows of 12 and 96 epochs fitted -18 µs an epoch."""
    calls = []
    trainer = FakeTrainer()
    trainer.WINDOW = 16
    assert measure.epochs_per_call(trainer) == 16 and measure.epochs_per_call(FakeTrainer()) == 1
    measure.epoch_seconds(trainer, clock=lambda t, epochs: calls.append(epochs) or fake_clock(t, epochs))
    assert calls == [16] * measure.PROBES


def test_windows_come_in_two_lengths_eight_times_apart_and_never_run_past_the_run_or_their_own_length():
    assert measure.window_lengths(per_epoch_s=1e-4, window_s=0.1) == (125, 1000)
    assert measure.window_lengths(per_epoch_s=1e-6, window_s=0.1) == (12_500, 100_000)  # past any preset's epochs
    assert measure.window_lengths(per_epoch_s=1.0, window_s=0.1) == (1, 8)  # a slow epoch: still 8x apart
    for per_epoch_s in (1.0, 5e-4, 4.6e-5):  # a trainer that fuses 16 epochs per call: whole calls only
        short, long = measure.window_lengths(per_epoch_s, window_s=0.1, unit=16)
        assert short % 16 == long % 16 == 0 and short >= 16 and long >= 8 * short
    trainer = FakeTrainer()
    windows, replays = measure.windows_of(trainer, TrainConfig(epochs=2000), (250, 1000), 6, clock=fake_clock)
    assert [w.epochs for w in windows] == [250, 1000] * 3
    # after a set-up's warm-up epoch, 250 + 1000 + 250 fit in 2000 epochs; the next 1000 needs a replay
    assert replays == 2 and trainer.setups == 2 + 3  # each length once, untimed, then the timed runs
    assert all(w.seconds == pytest.approx(CALL_S + w.epochs * EPOCH_S) for w in windows)
    long = measure.windows_of(FakeTrainer(), TrainConfig(epochs=100), (500, 4000), 4, clock=fake_clock)[0]
    assert [w.epochs for w in long] == [500, 4000] * 2  # a window longer than the run: replayed from setup()


def test_no_timed_window_holds_the_compiling_of_its_call_length():
    windows, _ = measure.windows_of(FakeTrainer(), TrainConfig(epochs=2000), (250, 1000), 4, clock=compiling_clock())
    assert all(w.seconds == pytest.approx(CALL_S + w.epochs * EPOCH_S) for w in windows)


def test_a_timing_process_s_columns_come_from_its_solve_runs_and_windows():
    config = TrainConfig(epochs=1000)
    cold, warm, _ = measure.solve_runs(FakeTrainer(solve_at=30), config, budget_s=60, solve=True, clock=fake_clock)
    solved = measure.solve_fields(cold, warm, solve=True, epochs=1000)
    assert solved["stop_reason"] == "solved" and solved["stopped_at_epoch"] == 51
    assert solved["time_to_solve_cold_s"] == cold.time_to_solve(30) > solved["time_to_solve_warm_s"]
    assert solved["time_to_solve_warm_s"] == time_to_solve(0.0, warm.calls, 30)  # no build: compiled already
    startup, none, _ = measure.solve_runs(FakeTrainer(solve_at=30), config, budget_s=60, solve=False, clock=fake_clock)
    only = measure.solve_fields(startup, none, solve=False, epochs=1000)
    assert none is None and startup.epochs == 1 and only["stopped_at_epoch"] == 1
    assert only["stop_reason"] == "start-up only" and only["time_to_solve_cold_s"] is None
    windows, replays = measure.windows_of(FakeTrainer(), config, (125, 1000), 4, clock=fake_clock, kernel=lambda: 2e-3)
    timed = measure.window_fields(windows, replays)
    assert timed["epoch_us"] == pytest.approx(EPOCH_S * 1e6) and timed["call_us"] == pytest.approx(CALL_S * 1e6)
    assert (timed["windows"], timed["window_epochs"], timed["replays"]) == (4, 1000, replays)
    assert timed["kernel_us"] == pytest.approx(2000.0) and all(w.kernel_s == 2e-3 for w in windows)


def test_a_run_s_outcome_columns_say_what_it_trained_to():
    fields = measure.outcome_fields(
        convergence_run(FakeTrainer(solve_at=50), TrainConfig(epochs=100), clock=fake_clock)
    )
    assert (fields["status"], fields["epochs"], fields["solved"], fields["epoch_solved"]) == ("ok", 100, True, 50)
    assert fields["final_loss"] == pytest.approx(0.001) and fields["outputs"] == "0 1 1 0"
    assert fields["time_to_solve_s"] < fields["train_s"]
