"""Collector outputs (sinks) besides in-code callbacks: Redis Pub/Sub, Redis Streams,
configured callbacks, and TimescaleDB (``storage.writer.TimescaleSink``).

``build_sinks(config)`` builds them from configuration; attach each with
``collector.add_sink(sink)``. See docs/storage.md ("Outputs").
"""

from collectors.outputs.callback import CallbackSink
from collectors.outputs.config import SINK_TYPES, build_sinks
from collectors.outputs.redis import RedisPubSubSink, RedisStreamSink, pubsub_channel, stream_key
from collectors.outputs.serialize import decode_point, encode_point

__all__ = [
    "SINK_TYPES",
    "CallbackSink",
    "RedisPubSubSink",
    "RedisStreamSink",
    "build_sinks",
    "decode_point",
    "encode_point",
    "pubsub_channel",
    "stream_key",
]
