"""hami.deviceplugin"""
