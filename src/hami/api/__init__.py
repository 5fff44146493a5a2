"""hami.api"""
