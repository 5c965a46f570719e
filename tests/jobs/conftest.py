"""A Redis server and an RQ worker for the job tests: one of each per test module (module scope), so a
module that flushes, fills or kills its Redis leaves the other modules' alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.servers import RedisServer, RQWorker


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def worker(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RQWorker]:
    proc = RQWorker(tmp_path_factory.mktemp("worker"), redis_server.url).start()
    yield proc
    proc.stop()
