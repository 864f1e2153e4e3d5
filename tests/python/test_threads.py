"""One compiled plan called from 4 Python threads at once gives the results of serial calls; the GIL is released."""
import threading
import time

import numpy as np

import resnet_cpp as rc
from conftest import images

THREADS, CALLS = 4, 50


def test_four_threads_on_one_plan_equal_serial_calls():
    m = rc.models.resnet20().eval()
    fast = m.compile(batch=2)
    inputs = [images((2, 3, 32, 32), seed=100 + i) for i in range(THREADS)]
    serial = [fast(x) for x in inputs]
    results = [[] for _ in range(THREADS)]
    errors = []

    def caller(i):
        try:
            for _ in range(CALLS):
                results[i].append(fast(inputs[i]))
        except Exception as e:  # noqa: BLE001 -- reported below
            errors.append(e)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i in range(THREADS):
        assert len(results[i]) == CALLS
        for r in results[i]:
            np.testing.assert_array_equal(r, serial[i])


def test_calls_release_the_gil():
    # While one thread runs the model, another Python thread keeps running: it counts far more than it would
    # if the forward held the GIL for its whole duration.
    m = rc.models.resnet18(num_classes=10).eval()
    fast = m.compile(batch=2, size=96)
    x = images((2, 3, 96, 96))
    fast(x)
    stop = threading.Event()
    ticks = [0]

    def ticker():
        while not stop.is_set():
            ticks[0] += 1
            time.sleep(0.001)

    t = threading.Thread(target=ticker)
    t.start()
    start = time.perf_counter()
    calls = 0
    while time.perf_counter() - start < 0.5:
        fast(x)
        calls += 1
    stop.set()
    t.join()
    elapsed = time.perf_counter() - start
    assert ticks[0] > 0.3 * elapsed / 0.0011, f"ticker ran {ticks[0]} times in {elapsed:.2f} s ({calls} calls)"
