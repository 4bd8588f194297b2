"""Channel connectors: one class per channel kind behind one interface (``base.ChannelConnector``)."""
