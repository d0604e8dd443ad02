CREATE DATABASE registry OWNER switchboard;
