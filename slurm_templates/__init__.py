"""The job script templates `pyexp launch` renders: SLURM (cpu.sbatch, gpu.sbatch) and Grid Engine (cpu.sge).

They live at the repository's top level, where a site admin looks for them, and are
installed as the package `pyexperimenter.slurm_templates` (pyproject.toml maps the folder
there), so wheels and editable installs read them with importlib.resources alike.
"""
