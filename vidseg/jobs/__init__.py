"""RQ jobs: the retrain loop per video, and the project scan that finds videos to retrain."""
