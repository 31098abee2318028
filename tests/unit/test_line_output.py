"""Threads sharing one process's stdout write whole lines (the local stack's log)."""

from __future__ import annotations

import io
import threading

from local_aws.line_output import LineAtomicStream


def test_a_line_printed_in_two_writes_is_not_split_by_another_threads_line() -> None:
    # GIVEN a stream that two threads print to, the first one paused between
    # its line and the newline (print writes them in two calls)
    out = io.StringIO()
    stream = LineAtomicStream(out)
    line_written = threading.Event()
    other_done = threading.Event()

    def metrics_line() -> None:
        stream.write('{"_aws": 1}')
        line_written.set()
        other_done.wait(5)
        stream.write("\n")

    def log_line() -> None:
        line_written.wait(5)
        print('{"message": "event applied"}', file=stream)
        other_done.set()

    # WHEN both run
    threads = [threading.Thread(target=metrics_line), threading.Thread(target=log_line)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    # THEN each line is whole, in the order the lines were finished
    assert out.getvalue().splitlines() == ['{"message": "event applied"}', '{"_aws": 1}']


def test_flush_passes_on_an_unfinished_line() -> None:
    # GIVEN text without a newline yet
    out = io.StringIO()
    stream = LineAtomicStream(out)
    stream.write("progress 50%")
    assert out.getvalue() == ""

    # WHEN it is flushed, THEN it is written as it is
    stream.flush()
    assert out.getvalue() == "progress 50%"
