"""The playground: a prompt tried on a few cases, as a run the lists leave out."""
