"""The training loop's data stream: the same batches whether made inline or by forked workers."""

import random

import pytest

from pipelines import embedded_data as data
from pipelines import train_embedded as train


def frame_batch(rng: random.Random) -> list[str]:
    return [data.describe_example(data.random_frame(rng)).answer for _ in range(3)]


def test_worker_batches_equal_inline_batches_step_for_step():
    inline = list(train.batch_stream("s", train.TrainConfig(seed=7, workers=0), frame_batch, 5, 12))
    forked = list(train.batch_stream("s", train.TrainConfig(seed=7, workers=2), frame_batch, 5, 12))
    assert forked == inline
    assert len(inline) == 7 and len({tuple(b) for b in inline}) == 7  # one distinct batch per step


def test_a_resumed_stream_continues_where_it_stopped():
    whole = list(train.batch_stream("s", train.TrainConfig(seed=7), frame_batch, 0, 6))
    assert list(train.batch_stream("s", train.TrainConfig(seed=7, workers=2), frame_batch, 3, 6)) == whole[3:]


@pytest.mark.parametrize("argv, message", [
    (["--chain", "target", "--device", "cuda"], "only supported"),
    (["--chain", "target-long", "--workers", "-1"], "--workers"),
])
def test_bad_training_options_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit):
        train.main(argv)
    assert message in capsys.readouterr().err
