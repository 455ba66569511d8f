"""The worker: its Faust app and transport, the runner, scheduler, relay and one stream processor per topic."""
