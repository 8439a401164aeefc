"""Test support shipped with the code: a fake Kubernetes API server speaking the real wire
protocol (see `server.FakeApiServer`) and a kubeconfig writer for it."""

from autoscaler.testing.faults import RecordedRequest
from autoscaler.testing.kinds import Kind
from autoscaler.testing.kubeconfig import kubeconfig, write_kubeconfig
from autoscaler.testing.server import FakeApiServer

__all__ = ["FakeApiServer", "Kind", "RecordedRequest", "kubeconfig", "write_kubeconfig"]
