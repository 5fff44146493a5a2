"""hami.device"""
