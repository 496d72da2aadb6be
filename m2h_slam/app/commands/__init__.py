"""One module per ``m2h-slam`` command; each has ``add(commands, common)`` (its parser) and ``main(args)``.

``COMMANDS`` lists them in the order ``m2h-slam --help`` shows.
"""

from m2h_slam.app.commands import eval, export_onnx, graph, info, predict, run, sample, synth, train

COMMANDS = (info, sample, synth, run, eval, graph, train, predict, export_onnx)
