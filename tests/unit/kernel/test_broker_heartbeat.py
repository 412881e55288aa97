"""Redis: a live worker renews the delivery time of the messages it holds, so a short
visibility timeout never hands them to another worker (chartvault.broker_heartbeat)."""

from __future__ import annotations

import time

import redis
from kombu import Connection

from chartvault.broker_heartbeat import renew


def test_held_messages_are_renewed_and_acknowledged_ones_left_alone(redis_url):
    with Connection(redis_url, transport_options={"visibility_timeout": 5}) as conn:
        queue = conn.SimpleQueue("heartbeat-test")
        queue.put({"page": 1})
        queue.put({"page": 2})
        held, done = queue.get(timeout=5), queue.get(timeout=5)
        done.ack()
        client = redis.Redis.from_url(redis_url)
        delivered = client.zscore("unacked_index", held.delivery_tag)
        assert delivered is not None
        assert client.zscore("unacked_index", done.delivery_tag) is None
        time.sleep(1.1)
        assert renew(queue.channel) == 1
        assert client.zscore("unacked_index", held.delivery_tag) > delivered + 1
        assert client.zscore("unacked_index", done.delivery_tag) is None  # xx: not re-added
        held.ack()
        queue.close()
        client.close()
