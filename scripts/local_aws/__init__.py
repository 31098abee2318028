"""Local emulation of the AWS pieces moto does not run."""
