"""The bundle's readable report, rendered from one "report data" document (built by
:mod:`mmnet.pipeline.configure`):

- :mod:`.data`: the report data, validated against ``schemas/report_data.schema.json``;
- :mod:`.presentation`: number formats, the metric's name, the order of modes and profiles;
- :mod:`.plots`: the PNG plots;
- :mod:`.page`: ``report/index.html`` (:func:`~mmnet.pipeline.report.page.write_report`);
- :mod:`.model_card`: ``model_card.md`` (:func:`~mmnet.pipeline.report.model_card.write_model_card`);
- :mod:`.files`: atomic writes, and the local files a page links to
  (:func:`~mmnet.pipeline.report.files.report_files`).
"""
