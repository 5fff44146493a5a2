"""hami.device.nvidia"""
