"""multi-dsNN (dissertation ch. 3): a decision tree routes each input to one data-specialised network.

``config`` holds the design's settings; ``partition`` (TF-free) the error file, the threshold queue,
the selector trees and their export; ``topology`` (TF-free) the heuristic search of §3.5.7;
``systems`` (TF-free) the evaluation of systems, the Pareto front and the selector's
misclassification rate; ``networks`` the Keras dsNNs, their training and TFLite export; ``design``
the whole §3.4 flow for one data set; ``baselines`` boosting (SAMME) and a mixture of experts under
the monolithic network's MAC budget; ``data`` the data sets; ``bundle`` the deployable bundle.
"""
