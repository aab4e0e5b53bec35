"""Renderers for the embedded datasets: shapes, faces, scenes, crowds, text tasks."""
