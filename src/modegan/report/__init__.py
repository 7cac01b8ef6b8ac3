"""Plots and reports written from run directories."""
