"""Built-in noise-aware classifiers for the Diffusion-LM control tasks, written only against ctrlgen's
public plug-in interface (``ctrlgen.NoiseAwareClassifier``): the proof that plug-ins work.

- ``semantic.v1`` (:mod:`.semantic`): the value of each E2E field, for ``SemanticField``;
- ``semantic-token.v1`` (:mod:`.semantic_token`): the same over noisy tokens, for ``SemanticField`` on the
  discrete (SEDD) backend;
- ``pos.v1`` (:mod:`.pos`): per-position UPOS tags, for ``POS``;
- ``pos-token.v1`` (:mod:`.pos_token`): the same over noisy tokens, for ``POS`` on the discrete backend;
- ``syntax.v1`` (:mod:`.syntax`): per-span constituent labels, for ``SyntaxTree`` and ``SyntaxSpans``;
- ``syntax-token.v1`` (:mod:`.syntax_token`): the same over noisy tokens, for ``SyntaxTree`` / ``SyntaxSpans`` on
  the discrete backend.

ctrlgen finds them through the ``ctrlgen.classifiers`` entry points declared in ``pyproject.toml``, never
by importing this package; trained copies for the bundled model live in
``ctrlgen/assets/e2e/classifiers/`` and ``ctrlgen/assets/e2e-sedd/classifiers/``
(``ctrlgen train-classifier {semantic,pos,tree} --model …``).
"""
