"""Cases: storing what reporters send (store), sealing it on the server for the no-JS path
(sealing, uploads, derivations), and the actions members take on a case."""
