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
    # While one thread is inside a call, this thread keeps running Python: the largest gap between its time
    # stamps is a small part of the call (a call holding the GIL would leave one gap as long as itself).
    m = rc.models.resnet18(num_classes=10).eval()
    fast = m.compile(batch=4)
    x = images((4, 3, 224, 224))
    fast(x)
    span = {}

    def call():
        span["start"] = time.perf_counter()
        fast(x)
        span["end"] = time.perf_counter()

    t = threading.Thread(target=call)
    stamps = []
    t.start()
    while t.is_alive():
        stamps.append(time.perf_counter())
        time.sleep(0.0005)
    t.join()
    inside = [s for s in stamps if span["start"] <= s <= span["end"]]
    duration = span["end"] - span["start"]
    gaps = np.diff([span["start"]] + inside + [span["end"]])
    assert gaps.max() < 0.5 * duration, f"a {gaps.max() * 1e3:.1f} ms gap in a {duration * 1e3:.1f} ms call"
