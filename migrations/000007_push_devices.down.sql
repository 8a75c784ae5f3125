DROP TABLE IF EXISTS push_devices;
