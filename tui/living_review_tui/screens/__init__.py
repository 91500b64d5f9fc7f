"""One screen per review stage; each is the base screen of one app mode."""
