"""The wait between polls: short after an event, growing while nothing happens, capped."""

from admire_jax.experiment.polling import wait_seconds


def test_polls_back_off_with_the_time_since_the_last_event():
    assert wait_seconds(10.0, None, 1.0, 30.0) == 1.0
    waits = [wait_seconds(now, 0.0, 1.0, 30.0) for now in (0.0, 5.0, 10.0, 40.0, 200.0, 1e6)]
    assert waits == [1.0, 1.0, 1.0, 4.0, 20.0, 30.0]
    assert wait_seconds(50.0, 0.0, 2.0, 3.0) == 3.0  # never beyond the cap
