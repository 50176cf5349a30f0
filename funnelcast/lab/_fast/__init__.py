"""The Threshold Lab's fast path, fenced off: numba-compiled kernels, the hand-written vector
type they score with, and the buffers they reuse. Only funnelcast.lab imports it.
"""
