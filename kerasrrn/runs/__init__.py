"""Run directories: their layout (`layout`), the dataset a run reads (`data`), loading a run or
a SavedModel (`loading`), and fused MRRN runs (`fusion`). The one place that knows where a run
keeps what."""
