"""The SLO recommender: replicas from a queueing model of LLM inference pods."""
