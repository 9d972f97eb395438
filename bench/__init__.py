"""Benchmark harness for Model Manager: ``python -m bench [--quick] [--only NAME]``.

Every process it needs (a local upstream, the Hub emulator, the proxy, the references nginx and
olah, Redis, curl and huggingface_hub clients) runs on this machine over loopback; the harness
starts and stops each. The results go to a table on stdout and, for a full run, to
``docs/benchmarks.md``.

Modules, one job each:

* ``process``    free ports, child processes, waiting for ``/healthz``, reading a process's RSS
* ``files``      the random test files (made once per run, deleted at the end)
* ``upstream``   the local HTTP upstream (serves a directory, optional throttling, counts requests)
* ``hub``        the Hub emulator (tests/fakes/fake_hub.py) as a process, serving one repo from a directory
* ``proxy_proc`` ``modelmanager serve`` as a subprocess with a temp (or a shared) cache directory
* ``nginx``      nginx as a caching reverse proxy (proxy_cache_lock; slice), installed if missing
* ``olah``       olah, the open-source HF mirror, in its own venv, pointed at the Hub emulator
* ``redis_proc`` a private redis-server for the cluster scenario
* ``clients``    download clients: curl for raw speed, an aiohttp client that times every chunk
* ``hf_client``  one timed ``snapshot_download`` in its own interpreter and HF_ENDPOINT
* ``rss``        a thread that samples a process's resident set size
* ``disk``       the cache volume's own write speed (concurrent writes ending in fsync)
* ``load``       CPU used by other processes: wait for a quiet machine, note a busy one
* ``scenarios``  the scenarios (warm-hit, warm-many, cold-miss, herd, cluster-herd, hf-snapshot, cold-rss)
* ``report``     the table, the machine description and ``docs/benchmarks.md``
"""
