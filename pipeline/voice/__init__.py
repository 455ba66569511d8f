"""Voice: an assistant's phone line, its calls' states and end reasons, and the call tokens of the relay."""
