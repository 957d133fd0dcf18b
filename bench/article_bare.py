"""The article's NumPy snippet, verbatim, timed bare: the yardstick for harness overhead.

The class below is copied from the article (shared/seed/article.txt, steps 2-6);
only its progress print goes to a sink. Nothing of xorbench runs inside the
timed loop, so `xorbench run` can show how much its own machinery adds.
"""

from __future__ import annotations

import contextlib
import io
import time

import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def sigmoid_derivative(x):
    return x * (1 - x)


class NeuralNetwork:
    def __init__(self, input_size, hidden_size, output_size):
        self.weights_input_hidden = np.random.rand(input_size, hidden_size)
        self.weights_hidden_output = np.random.rand(hidden_size, output_size)

        self.bias_hidden = np.random.rand(hidden_size)
        self.bias_output = np.random.rand(output_size)

    def forward(self, X):
        self.hidden_input = np.dot(X, self.weights_input_hidden) + self.bias_hidden
        self.hidden_output = sigmoid(self.hidden_input)

        self.output_input = np.dot(self.hidden_output, self.weights_hidden_output) + self.bias_output
        self.output = sigmoid(self.output_input)

        return self.output

    def backward(self, X, y, learning_rate):
        output_error = y - self.output
        output_delta = output_error * sigmoid_derivative(self.output)

        hidden_error = output_delta.dot(self.weights_hidden_output.T)
        hidden_delta = hidden_error * sigmoid_derivative(self.hidden_output)

        self.weights_hidden_output += self.hidden_output.T.dot(output_delta) * learning_rate
        self.weights_input_hidden += X.T.dot(hidden_delta) * learning_rate

        self.bias_output += np.sum(output_delta, axis=0) * learning_rate
        self.bias_hidden += np.sum(hidden_delta, axis=0) * learning_rate

    def train(self, X, y, epochs, learning_rate):
        for epoch in range(epochs):
            self.forward(X)
            self.backward(X, y, learning_rate)

            if epoch % 1000 == 0:
                loss = np.mean(np.square(y - self.output))
                print(f"Epoch {epoch}, Loss: {loss}")


X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
y = np.array([[0], [1], [1], [0]])


def epoch_us(epochs: int = 10_000, seed: int = 0) -> float:
    """Microseconds per epoch of the article's own training loop (its 10,000 epochs by default)."""
    np.random.seed(seed)
    nn = NeuralNetwork(input_size=2, hidden_size=4, output_size=1)
    with contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        nn.train(X, y, epochs=epochs, learning_rate=0.1)
        elapsed = time.perf_counter() - start
    return elapsed / epochs * 1e6
