"""The scale path: the same blocking, comparisons and scores as SQL, run by one executor per engine.

Import the parts from their modules (`mpi.sql.build`, `mpi.sql.executors`, `mpi.sql.link`); this
package imports nothing itself, so that comparisons can use `mpi.sql.levels` without a cycle.
"""

__all__: list[str] = []
