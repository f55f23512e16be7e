"""The dev node agent — dev/test tooling, NOT a kubelet: plays Nodes, runs their pods locally.

Run by ``python -m tradefleet_devtools.devnode`` (and so by the launcher the test fixtures and the
local demo use), or in-process with :meth:`DevNodeAgent.run` in a background thread. Production
clusters run the real kubelet; nothing in the operator or the runtime depends on this.

Design: one asyncio loop. A thread lists and watches all pods (the watch ends every ``--resync``
seconds and the agent lists again, so a missed event heals), hands the ones bound to the agent's
nodes to the loop, and the loop keeps one :class:`~.pods.PodWorker` per pod uid. Blocking API calls
run in a thread pool. On start the agent reads its state directory and adopts the container
processes of an earlier run that are still alive (pid and kernel start time must both match).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tradefleet_devtools.devnode.backoff import BackoffPolicy
from tradefleet_devtools.devnode.errors import KubeApiError
from tradefleet_devtools.devnode.events import EventRecorder
from tradefleet_devtools.devnode.kube import KubeApi
from tradefleet_devtools.devnode.nodes import NodeKeeper, delete_nodes
from tradefleet_devtools.devnode.podenv import apiserver_service_env
from tradefleet_devtools.devnode.pods import NodeRuntime, PodWorker, agent_base_env
from tradefleet_devtools.devnode.process import kill_process_group, required_binary
from tradefleet_devtools.devnode.settings import AgentSettings, PodNetwork
from tradefleet_devtools.devnode.state import PodRecord, StateStore

log = logging.getLogger("tradefleet_devtools.devnode")

JsonObject = dict[str, Any]

TERMINAL_PHASES = ("Succeeded", "Failed")


@dataclass(frozen=True, kw_only=True, slots=True)
class PodSnapshot:
    """Every pod bound to the agent's nodes, from a fresh list."""

    pods: list[JsonObject]


@dataclass(frozen=True, kw_only=True, slots=True)
class PodChange:
    kind: str
    pod: JsonObject


PodFeed = PodSnapshot | PodChange


class PodSource:
    """List + watch of pods in a thread; delivers the agent's pods to the event loop."""

    def __init__(
        self,
        *,
        api: KubeApi,
        node_names: Sequence[str],
        resync_s: int,
        deliver: Callable[[PodFeed], None],
    ) -> None:
        self._api = api
        self._nodes = frozenset(node_names)
        self._resync_s = resync_s
        self._deliver = deliver
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="devnode-pod-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def _ours(self, pod: JsonObject) -> bool:
        return (pod.get("spec") or {}).get("nodeName") in self._nodes

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                listing = self._api.get(path="/api/v1/pods")
                self._deliver(
                    PodSnapshot(pods=[p for p in listing.get("items") or [] if self._ours(p)])
                )
                version = str(listing.get("metadata", {}).get("resourceVersion", ""))
                for event in self._api.watch(
                    path="/api/v1/pods",
                    query={"resourceVersion": version, "allowWatchBookmarks": True},
                    timeout_s=self._resync_s,
                ):
                    if self._stopped.is_set():
                        return
                    kind = str(event.get("type"))
                    if kind == "ERROR":
                        break  # typically 410 Gone: list again
                    pod = event.get("object") or {}
                    if kind != "BOOKMARK" and self._ours(pod):
                        self._deliver(PodChange(kind=kind, pod=pod))
            except KubeApiError as exc:
                log.warning("pod list/watch failed, retrying: %s", exc)
                self._stopped.wait(1.0)
            except RuntimeError:
                return  # the event loop is closed: the agent is gone
            except Exception:
                # Whatever went wrong, watching pods is this thread's only job: keep at it.
                log.exception("pod list/watch broke, retrying")
                self._stopped.wait(1.0)


class DevNodeAgent:
    """Registers the configured nodes, keeps them Ready, and runs the pods bound to them."""

    def __init__(self, *, settings: AgentSettings) -> None:
        settings.validate()
        self.settings = settings
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._workers: dict[str, PodWorker] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._api = KubeApi(kubeconfig=settings.kubeconfig)
        self._network = PodNetwork(
            cidr=settings.pod_network, node_names=[n.name for n in settings.nodes]
        )
        self._store = StateStore(root=settings.state_dir)
        self._records: dict[str, PodRecord] = {}
        self._keeper = NodeKeeper(api=self._api, settings=settings, network=self._network)
        self._events = EventRecorder(api=self._api)
        self._runtime = NodeRuntime(
            api=self._api,
            events=self._events,
            store=self._store,
            backoff=BackoffPolicy(
                base_s=settings.backoff_base_s,
                max_s=settings.backoff_max_s,
                reset_after_s=settings.backoff_reset_s,
            ),
            node_allocatable=self._keeper.allocatable,
            unshare=required_binary("unshare"),
            mount=required_binary("mount"),
            nsenter=required_binary("nsenter"),
            base_env=agent_base_env(),
            service_env=apiserver_service_env(server=self._api.server),
        )

    def run(self) -> None:
        """Run until SIGTERM/SIGINT (in the main thread) or :meth:`request_stop`."""
        asyncio.run(self.serve())

    def request_stop(self) -> None:
        """Ask a running agent to stop (thread-safe); it stops its pods' processes first."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            loop.call_soon_threadsafe(stop.set)

    async def serve(self) -> None:
        settings = self.settings
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stop = asyncio.Event()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=32, thread_name_prefix="devnode"))
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self._stop.set)
        log.info(
            "dev node agent (dev/test tooling, not a kubelet) starting: nodes %s; pod network %s;"
            " state in %s; pod logs in %s/logs/<namespace>_<pod>_<uid>/<container>/<restarts>.log",
            ", ".join(f"{n.name} ({n.region})" for n in settings.nodes),
            settings.pod_network,
            settings.state_dir,
            settings.state_dir,
        )
        self._records = self._store.load_all()
        for record in self._records.values():
            self._network.reserve(record.pod_ip)
        if not await self._register():
            self._api.close()
            return
        queue: asyncio.Queue[PodFeed] = asyncio.Queue()

        def deliver(item: PodFeed) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        source = PodSource(
            api=self._api,
            node_names=[n.name for n in settings.nodes],
            resync_s=settings.resync_s,
            deliver=deliver,
        )
        source.start()
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            await self._dispatch(queue)
        finally:
            source.stop()
            heartbeat.cancel()
            await self._shutdown()

    async def _register(self) -> bool:
        """Register the nodes, retrying while the apiserver is unreachable; False on stop."""
        assert self._stop is not None
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(self._keeper.register)
                return True
            except KubeApiError as exc:
                log.warning("cannot register nodes yet (%s); retrying", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=2.0)
        return False

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_s)
            try:
                await asyncio.to_thread(self._keeper.heartbeat)
            except (KubeApiError, KeyError) as exc:
                log.warning("node heartbeat failed: %s", exc)

    async def _dispatch(self, queue: asyncio.Queue[PodFeed]) -> None:
        assert self._stop is not None
        stop_waiter = asyncio.create_task(self._stop.wait())
        first_snapshot = True
        try:
            while not self._stop.is_set():
                getter = asyncio.create_task(queue.get())
                await asyncio.wait({getter, stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    break
                item = getter.result()
                if isinstance(item, PodSnapshot):
                    self._apply_snapshot(item)
                    if first_snapshot:
                        first_snapshot = False
                        await asyncio.to_thread(self._clean_orphans)
                        self._store.mark_ready()
                        log.info("dev node agent ready: %d pod(s) on its nodes", len(self._workers))
                elif item.kind == "DELETED":
                    worker = self._workers.get(str(item.pod["metadata"]["uid"]))
                    if worker is not None:
                        worker.abandon()
                else:
                    self._observe(item.pod)
                self._reap()
        finally:
            stop_waiter.cancel()

    def _apply_snapshot(self, snapshot: PodSnapshot) -> None:
        present = set()
        for pod in snapshot.pods:
            present.add(str(pod["metadata"]["uid"]))
            self._observe(pod)
        for uid, worker in list(self._workers.items()):
            if uid not in present:
                worker.abandon()
            else:
                worker.refresh_volumes()

    def _observe(self, pod: JsonObject) -> None:
        """A pod bound to one of our nodes was seen: update its worker or start one."""
        metadata = pod.get("metadata", {})
        uid = str(metadata.get("uid"))
        worker = self._workers.get(uid)
        if worker is not None:
            worker.update(pod)
            return
        try:
            self._start_worker(pod)
        except Exception:
            # One odd pod must not stop the agent from serving the others.
            log.exception(
                "cannot take on pod %s/%s", metadata.get("namespace"), metadata.get("name")
            )

    def _start_worker(self, pod: JsonObject) -> None:
        metadata, spec = pod["metadata"], pod.get("spec", {})
        uid = str(metadata["uid"])
        node = str(spec["nodeName"])
        record = self._records.pop(uid, None)
        if record is None:
            phase = (pod.get("status") or {}).get("phase")
            if phase in TERMINAL_PHASES or metadata.get("deletionTimestamp"):
                # Finished, or deleted before it ran here: nothing to run: maybe delete the object.
                if metadata.get("deletionTimestamp"):
                    task = asyncio.create_task(self._delete_pod_object(pod))
                    self._background.add(task)
                    task.add_done_callback(self._background.discard)
                return
            host_ip = self._network.host_ip(node)
            pod_ip = host_ip if spec.get("hostNetwork") else self._network.allocate(node)
            record = PodRecord(
                uid=uid,
                namespace=str(metadata["namespace"]),
                name=str(metadata["name"]),
                node=node,
                pod_ip=pod_ip,
                start_time=time.time(),
            )
            log.info(
                "pod %s/%s bound to %s: pod IP %s", record.namespace, record.name, node, pod_ip
            )
        worker = PodWorker(
            pod=pod, record=record, host_ip=self._network.host_ip(node), runtime=self._runtime
        )
        self._workers[uid] = worker
        worker.start()
        worker.update(pod)

    async def _delete_pod_object(self, pod: JsonObject) -> None:
        metadata = pod["metadata"]
        try:
            await asyncio.to_thread(
                self._api.delete,
                path=f"/api/v1/namespaces/{metadata['namespace']}/pods/{metadata['name']}",
                body={"gracePeriodSeconds": 0, "preconditions": {"uid": metadata["uid"]}},
            )
        except KubeApiError as exc:
            log.warning(
                "could not delete pod %s/%s: %s", metadata["namespace"], metadata["name"], exc
            )

    def _reap(self) -> None:
        for uid, worker in list(self._workers.items()):
            if worker.done:
                del self._workers[uid]
                if worker.pod_ip != worker.host_ip:
                    self._network.release(worker.pod_ip)

    def _clean_orphans(self) -> None:
        """Records of pods that no longer exist: kill what is left of them and forget them."""
        for uid, record in list(self._records.items()):
            for name, container in record.containers.items():
                if container.running is not None and kill_process_group(
                    pid=container.running.shim_pid, start_ticks=container.running.start_ticks
                ):
                    log.info(
                        "killed leftover container %s of deleted pod %s/%s",
                        name,
                        record.namespace,
                        record.name,
                    )
            self._store.forget(uid)
            self._network.release(record.pod_ip)
            del self._records[uid]

    async def _shutdown(self) -> None:
        log.info("dev node agent stopping: stopping %d pod(s)", len(self._workers))
        await asyncio.gather(
            *(
                w.shutdown(grace_cap_s=self.settings.shutdown_grace_s)
                for w in self._workers.values()
            ),
            return_exceptions=True,
        )
        await self._events.flush()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self.settings.delete_nodes_on_exit:
            try:
                await asyncio.to_thread(
                    delete_nodes, api=self._api, names=[n.name for n in self.settings.nodes]
                )
            except KubeApiError as exc:
                log.warning("could not delete the nodes: %s", exc)
        self._store.clear_ready()
        self._api.close()
        log.info("dev node agent stopped")
