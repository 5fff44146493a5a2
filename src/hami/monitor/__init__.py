"""hami.monitor"""
