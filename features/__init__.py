"""Data contract, loading, validation, snapshots and the point-in-time feature builders."""
