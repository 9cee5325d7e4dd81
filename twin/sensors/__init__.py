"""Sensors over LoRaWAN and MQTT (issue 12): messages, checks, storage, the MQTT intake."""
