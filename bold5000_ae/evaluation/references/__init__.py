"""Reconstruction references beyond the built-in ones: each module here registers one
(``reconstruction_references.register``) and is imported the first time the references are
read, so a new reference is one module."""
