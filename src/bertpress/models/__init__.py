"""Model families (adapters), loading, shrinking and saving."""
