"""hami.config"""
