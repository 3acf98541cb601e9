"""PPO (skrl) glue: configs, models, run directories, training loop, policy loading, play."""
